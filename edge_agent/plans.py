"""The device's signed plan: verified, kept on disk (played from there when the link is down),
and applied — each play scheduled once, what the plan no longer holds dropped."""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta
from pathlib import Path

from protocol.envelope import Rejected, verify
from protocol.messages import PlanCommand, PlayCommand, convert, to_builtins, utcnow

from .fsutil import atomic_write, read_json
from .player import Player
from .reports import Reporter
from .state import AgentState
from .trust import TrustedKeys

log = logging.getLogger(__name__)


class PlanKeeper:
    def __init__(
        self,
        device_id: str,
        path: Path,
        topic: str,
        state: AgentState,
        keys: TrustedKeys,
        player: Player,
        reporter: Reporter,
        lock: threading.Lock,
    ):
        """``lock``: the one the command dispatcher holds too (sequence checks never
        interleave)."""
        self.device_id = device_id
        self.path = path
        self.topic = topic
        self._state = state
        self._keys = keys
        self._player = player
        self._reporter = reporter
        self._lock = lock
        self._planned: set[str] = set()
        self.media: set[str] = set()  # what the cache must keep for it

    def load(self) -> None:
        """At start: play from the plan on disk even if the link never comes up."""
        stored = read_json(self.path, None)
        if stored:
            try:
                self._apply(convert(stored["plan"], PlanCommand))
            except (ValueError, KeyError, TypeError):
                log.exception("stored plan unreadable; waiting for a new one")

    def on_plan(self, raw: bytes) -> None:
        """A signed plan (retained: it arrives again on every reconnect)."""
        with self._lock:
            now = utcnow()
            stored = read_json(self.path, {}) or {}
            target = f"device:{self.device_id}"
            try:
                command = verify(
                    raw,
                    keys=self._keys(),
                    device_id=self.device_id,
                    zones=set(self._state.zones),
                    last_seq={target: stored.get("seq", 0)},
                    last_cmd={target: stored.get("cmd_id", "")},
                    now=now,
                    plan_topic=True,
                )
            except Rejected as rej:
                if rej.reason == "duplicate":
                    return  # the plan we already hold, redelivered as retained
                if rej.reason == "replayed":
                    # An older plan the station signed: what a broker restored from its last
                    # snapshot holds after a crash. Refused like any replay, but not an attack
                    # to report; the controller re-asserts the current one.
                    log.info(
                        "older plan ignored (%s); keeping sequence %s",
                        rej.detail,
                        stored.get("seq"),
                    )
                    return
                log.warning("refused plan: %s", rej)
                self._reporter.refused(rej, self.topic)
                return
            plan = command.body
            if not isinstance(plan, PlanCommand):
                return
            try:
                atomic_write(
                    self.path,
                    json.dumps(
                        {"seq": command.seq, "cmd_id": command.cmd_id, "plan": to_builtins(plan)}
                    ).encode(),
                )
                self._apply(plan)
            except OSError as exc:  # a full disk: the plan on disk stays the one played
                log.error("plan %s not kept: %s", plan.version, exc)

    def _apply(self, plan: PlanCommand) -> None:
        """Schedule what the plan holds (each play once), drop what it no longer holds."""
        now = utcnow()
        late = timedelta(seconds=plan.max_late_s)
        live = [e for e in plan.entries if e.start_at + late >= now]
        wanted = {e.play_id for e in live}
        for gone in self._planned - wanted:
            self._player.cancel_pending(gone)
        self._planned = wanted
        self.media = {e.media.sha256 for e in plan.entries if e.media is not None} | {
            e.stream.fallback_media.sha256
            for e in plan.entries
            if e.stream is not None and e.stream.fallback_media is not None
        }
        new = self._state.claim_many([(e.play_id, e.start_at) for e in live], now)
        for entry in live:
            if self._player.has(entry.play_id):
                continue
            if entry.play_id not in new and entry.start_at <= now:
                continue  # started before a restart: never twice
            self._player.schedule(
                PlayCommand(
                    play_id=entry.play_id,
                    broadcast_id=entry.play_id,
                    title=entry.title,
                    start_at=entry.start_at,
                    priority=entry.priority,
                    volume=entry.volume,
                    media=entry.media,
                    stream=entry.stream,
                ),
                entry.start_at + late,
            )
        log.info("plan %s: %d plays ahead", plan.version, len(live))
