"""Live updates for open pages: what changed, pushed from where it changes (no polling).

The ingest path tells the hub what a batch of agent reports touched (``fleet``: a device's
status or an alarm; ``progress``: acks and playback events), services tell it about their own
changes (a broadcast created, released or closed: ``broadcasts``). Every open page's event
stream is a subscriber; bursts are coalesced so a flood of reports is one event per topic.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable

log = logging.getLogger(__name__)

TOPICS = ("fleet", "progress", "broadcasts")
COALESCE_S = 0.3


class Subscription:
    def __init__(self, hub: LiveUpdates, loop: asyncio.AbstractEventLoop):
        self._hub = hub
        self._loop = loop
        self._pending: set[str] = set()
        self._event = asyncio.Event()

    def _offer(self, topics: set[str]) -> None:  # on the subscriber's loop
        self._pending |= topics
        self._event.set()

    async def next(self, timeout: float) -> set[str]:
        """The topics that changed since the last call (empty on timeout)."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return set()
        await asyncio.sleep(COALESCE_S)  # let a burst finish: one event per topic
        self._event.clear()
        changed, self._pending = self._pending, set()
        return changed

    def close(self) -> None:
        self._hub._unsubscribe(self)


class LiveUpdates:
    def __init__(self) -> None:
        self._subscribers: list[Subscription] = []
        self._lock = threading.Lock()

    def subscribe(self) -> Subscription:
        """From inside an event loop (an SSE response)."""
        sub = Subscription(self, asyncio.get_running_loop())
        with self._lock:
            self._subscribers.append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    def changed(self, topics: Iterable[str]) -> None:
        """Something changed (any thread)."""
        wanted = {t for t in topics if t in TOPICS}
        if not wanted:
            return
        with self._lock:
            subscribers = list(self._subscribers)
        for sub in subscribers:
            try:
                sub._loop.call_soon_threadsafe(sub._offer, wanted)
            except RuntimeError:  # its loop is closed: the page went away
                self._unsubscribe(sub)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)
