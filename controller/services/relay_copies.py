"""The station's copy of each relay, on its timeline: while a relay plays (a relay broadcast
or a routine's relay item), the controller reads the relayed stream (its URLs first to last)
and sends it, paced by its own clock and stamped with it (``streams/channel.py``), to the
relay's own mount (``streams/timeline.py``). Every loudspeaker plays that copy
``relay_delay_ms`` after the station got it, all in step; one that cannot reach it plays the
original URLs itself, out of step (``edge_agent/timed_relay.py``).

A tick keeps the copies to what is due — opened a few seconds before the start, closed after
the slot — so a restart, a cancelled or an ended relay all come right by themselves; a relay
broadcast's command going out ticks at once (it starts ``live_lead_s`` later)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import utcnow
from protocol.urls import without_credentials

from ..db.models import Broadcast
from ..domain.broadcast import BroadcastState
from ..fleet.commands import CommandPath, SentCommand
from ..jobs import Jobs
from ..schedules.model import RelayItem
from ..schedules.planning import Snapshot, planned_plays
from ..schedules.snapshot import media_refs, stored_schedules
from ..schedules.targets import Fleet
from ..settings import Settings
from ..streams.channel import LiveChannel, LiveInput
from ..streams.timeline import relay_mount

log = logging.getLogger(__name__)

TICK_S = 5.0
OPEN_AHEAD_S = 8.0  # the copy is on air this long before the loudspeakers start
LONGEST = timedelta(hours=6)  # the longest relay slot (``StreamRef.duration_s``)
NEXT_URL_PAUSE_S = 1.0
# a relayed stream arrives in bursts over the internet: more queued than a live voice
RELAY_INPUT = ["-probesize", "65536", "-analyzeduration", "500000", "-reconnect", "1", "-i"]


@dataclass(frozen=True)
class DueRelay:
    """A relay play the station keeps a copy of: its URLs and its slot."""

    play_id: str
    urls: tuple[str, ...]
    start_at: datetime
    end_at: datetime


class _Copy:
    """One relay's channel and the URL it reads; the next URL when one ends."""

    def __init__(self, relay: DueRelay, channel: LiveChannel):
        self.relay = relay
        self.channel = channel
        self.index = 0


class RelayCopies:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        jobs: Jobs,
        target: Callable[[str], str],
        commands: CommandPath | None = None,
    ):
        self.settings = settings
        self._sessions = sessions
        self._jobs = jobs
        self._target = target  # mount → where an encoder sends (the controller's source)
        self._copies: dict[str, _Copy] = {}
        self._lock = threading.Lock()
        if commands is not None:
            commands.listeners.append(self._on_sent)

    def due(self, now: datetime) -> dict[str, DueRelay]:
        """The relays playing now or starting within ``OPEN_AHEAD_S``."""
        soon = now + timedelta(seconds=OPEN_AHEAD_S)
        found: dict[str, DueRelay] = {}
        with self._sessions() as session:
            rows = session.scalars(
                select(Broadcast).where(
                    Broadcast.stream.is_not(None),
                    Broadcast.media_sha256.is_(None),
                    Broadcast.ended_at.is_(None),
                    Broadcast.state.in_(BroadcastState.awaiting_play_values()),
                    Broadcast.start_at <= soon,
                    Broadcast.start_at > now - LONGEST,
                )
            ).all()
            for row in rows:
                stream = row.stream or {}
                if stream.get("kind") != "relay" or not stream.get("station_url"):
                    continue
                end = row.start_at + timedelta(seconds=int(stream["duration_s"]))
                if end > now:
                    found[row.id] = DueRelay(row.id, tuple(stream["urls"]), row.start_at, end)
            # every 5 s: the schedules only, and the media only when one of them relays
            schedules = stored_schedules(session, self.settings.timezone)
            if not any(
                isinstance(item, RelayItem)
                for spec in schedules.schedules
                for item in spec.programme
            ):
                return found
            snapshot = Snapshot(schedules, Fleet({}), media_refs(session), devices=())
        for play in planned_plays(snapshot, now - LONGEST, soon, one_offs=False):
            for entry in play.entries:
                if entry.stream is None or entry.start_at > soon:
                    continue
                end = entry.start_at + timedelta(seconds=entry.stream.duration_s)
                if end > now:
                    found[entry.play_id] = DueRelay(
                        entry.play_id, tuple(entry.stream.urls), entry.start_at, end
                    )
        return found

    def tick(self) -> None:
        """Open the copies that are due, close those that are not (any more)."""
        wanted = self.due(utcnow())
        with self._lock:
            gone = [c for pid, c in self._copies.items() if pid not in wanted]
            for copy in gone:
                del self._copies[copy.relay.play_id]
            new = [r for pid, r in wanted.items() if pid not in self._copies]
        for copy in gone:
            log.info("relay %s: the station's copy closed", copy.relay.play_id)
            copy.channel.stop()
        for relay in new:
            self._open(relay)

    def playing(self) -> list[str]:
        """The play ids whose copy is on air."""
        with self._lock:
            return sorted(self._copies)

    def stop(self) -> None:
        with self._lock:
            copies, self._copies = list(self._copies.values()), {}
        for copy in copies:
            copy.channel.stop()

    def _open(self, relay: DueRelay) -> None:
        mount = relay_mount(relay.play_id)
        channel = LiveChannel(self.settings.ffmpeg, self._target(mount), mount.strip("/"))
        copy = _Copy(relay, channel)
        with self._lock:
            if relay.play_id in self._copies:  # a tick from another thread won
                channel.stop()
                return
            self._copies[relay.play_id] = copy
        log.info("relay %s: the station's copy on %s", relay.play_id, mount)
        self._read(copy)

    def _read(self, copy: _Copy) -> None:
        url = copy.relay.urls[copy.index % len(copy.relay.urls)]
        copy.channel.attach("relay", [*RELAY_INPUT, url], self._ended(copy))

    def _ended(self, copy: _Copy) -> Callable[[LiveInput], None]:
        def ended(source: LiveInput) -> None:
            url = copy.relay.urls[copy.index % len(copy.relay.urls)]
            log.warning(
                "relay %s: %s ended (%s); the next URL",
                copy.relay.play_id,
                without_credentials(url),
                source.error() or "no error",
            )
            copy.channel.detach(source)
            copy.index += 1
            self._jobs.at(
                utcnow() + timedelta(seconds=NEXT_URL_PAUSE_S),
                f"relay-next:{copy.relay.play_id}",
                self._next,
                copy,
            )

        return ended

    def _next(self, copy: _Copy) -> None:
        with self._lock:
            if self._copies.get(copy.relay.play_id) is not copy:
                return  # closed meanwhile
        self._read(copy)

    def _on_sent(self, cmd: SentCommand) -> None:
        """A relay broadcast's play went out: its copy must be on air within the lead."""
        if cmd.kind == "play" and (cmd.broadcast_id or "").startswith("r-"):
            self._jobs.run_soon("relay-copies-now", self.tick)
