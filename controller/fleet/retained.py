"""The retained messages the controller owns stay on the broker as the controller wrote them.

Plans (``device/{id}/plan``) and the controller's own status (its own topic, and the one
older agents read) are retained. A broker restarted
without persistence forgets them, and anyone who may publish there can clear or replace them.
The keeper watches those topics: after every (re)connect it waits for the broker's retained
copies, then re-asserts each one that is missing or differs (the plans after a second look,
so that one published meanwhile is not taken for lost); afterwards any message there that
differs from what the controller wrote is replaced at once.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Collection

from protocol import topics

from .gateway import MqttGateway, NotConnected
from .queues import waiting

log = logging.getLogger(__name__)

SETTLE_S = 2.0
"""After a (re)connect, how long the broker's retained copies take to arrive."""


class RetainedSource:
    """Where the keeper learns what each owned retained topic must hold."""

    def __init__(
        self,
        digests: Callable[[Collection[str] | None], dict[str, str]],
        payload: Callable[[str], bytes | None],
    ):
        # topic → sha256 of the payload it must hold (of the topics named, or of all)
        self.digests = digests
        self.payload = payload  # the payload itself, read when it must be re-asserted


class RetainedKeeper:
    def __init__(
        self,
        gateway: MqttGateway,
        plans: RetainedSource,
        statuses: tuple[str, ...] = (topics.CONTROLLER_STATUS,),
    ):
        """``statuses``: the status topics that must say ``online`` while we run."""
        self._gateway = gateway
        self._plans = plans
        self._statuses = statuses
        self._inbox: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
        self._running = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retained", daemon=True)
        self._connect_seen = threading.Event()
        self.reasserted = 0  # messages re-published since start (tests, metrics)

    def watches(self, topic: str) -> bool:
        return topic in self._statuses or topics.is_plan_topic(topic)

    def start(self) -> None:
        self._running.set()
        self._thread.start()

    def stop(self) -> None:
        self._running.clear()
        self._inbox.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def connected(self) -> None:
        """The gateway (re)connected (network thread): re-check everything after settling."""
        self._connect_seen.set()
        self._inbox.put(("", b""))

    def observe(self, topic: str, payload: bytes) -> None:
        """A message on an owned topic (network thread): compared off the network thread."""
        self._inbox.put((topic, payload))

    # --- worker ---------------------------------------------------------------------------

    def _run(self) -> None:
        seen: dict[str, str] = {}  # topic → digest the broker holds, since the last connect
        settle_until = 0.0
        recheck: list[str] = []  # plans the broker did not hold as written when settled
        recheck_at = 0.0
        while True:
            deadlines = [d for d in (settle_until, recheck_at) if d]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            try:
                item = self._inbox.get(timeout=timeout)
            except queue.Empty:
                now = time.monotonic()
                if settle_until and now >= settle_until:
                    settle_until = 0.0
                    recheck = self._differing(seen)
                    recheck_at = now + SETTLE_S if recheck else 0.0
                elif recheck_at and now >= recheck_at:
                    recheck_at = 0.0
                    self._reassert(recheck, seen)
                    recheck = []
                continue
            if item is None or not self._running.is_set():
                return
            # what else is waiting comes too: a fleet's plans published at once arrive back
            # as thousands of messages, checked against one read of what they must hold
            more, stop = waiting(self._inbox, 9_999)
            if stop:
                return
            arrived: dict[str, str] = {}
            for topic, payload in [item, *more]:
                if not topic:
                    if self._connect_seen.is_set():  # a fresh connect: start over
                        self._connect_seen.clear()
                        seen, arrived, recheck, recheck_at = {}, {}, [], 0.0
                        settle_until = time.monotonic() + SETTLE_S
                    continue
                seen[topic] = arrived[topic] = _digest(payload)
            if arrived and not settle_until:
                self._check(arrived)

    def _check(self, arrived: dict[str, str]) -> None:
        """Messages arrived after settling (topic → digest): replace what we did not write."""
        # only the topics that arrived: a refresh's 5,000 plans come back in hundreds of
        # batches, and reading every digest for each took a third of the refresh's time
        wanted = self._plans.digests([t for t in arrived if t not in self._statuses])
        for topic, digest in arrived.items():
            if topic in self._statuses:
                if digest != _digest(topics.CONTROLLER_ONLINE):
                    self._publish(topic, topics.CONTROLLER_ONLINE)
                continue
            want = wanted.get(topic)
            if want is not None and want != digest:
                payload = self._plans.payload(topic)
                if payload is not None:
                    self._publish(topic, payload)

    def _differing(self, seen: dict[str, str]) -> list[str]:
        """Settled after a connect: put our statuses back at once; return the plans the
        broker does not hold as written. Those are looked at again a moment later: a plan
        published while we settled may simply not be back yet (a controller's first refresh
        after it starts), and re-publishing it then would be noise, not repair."""
        for status in self._statuses:
            if seen.get(status) not in (None, _digest(topics.CONTROLLER_ONLINE)):
                self._publish(status, topics.CONTROLLER_ONLINE)
        return [t for t, d in self._plans.digests(None).items() if seen.get(t) != d]

    def _reassert(self, candidates: list[str], seen: dict[str, str]) -> None:
        """Re-publish the plans still missing or different on the broker (lost or changed)."""
        wanted = self._plans.digests(candidates)
        wrong = [t for t in candidates if t in wanted and seen.get(t) != wanted[t]]
        for topic in wrong:
            payload = self._plans.payload(topic)
            if payload is not None and not self._publish(topic, payload):
                break
        if wrong:
            log.warning("re-asserted %d retained plans the broker had lost or changed", len(wrong))

    def _publish(self, topic: str, payload: bytes) -> bool:
        if not self._running.is_set():
            return False
        try:
            self._gateway.publish(topic, payload, qos=1, retain=True)
        except NotConnected as exc:
            log.warning("could not re-assert %s: %s", topic, exc)
            return False
        self.reasserted += 1
        return True


def _digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()
