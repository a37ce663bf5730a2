"""What the record says about the plays and commands a batch of reports names: loaded in a
few queries, then each report checked (``controller/domain/report_checks.py``).

A device may report on a play only if it was sent that play — a delivery of a broadcast, or a
schedule's play in its plans (``scheduled_plays``) whose targets reach it — and on a command
only if the command was addressed to it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from protocol.messages import (
    AckMessage,
    MediaReadyEvent,
    PlaybackFailedEvent,
    PlaybackFinishedEvent,
    PlaybackHeardEvent,
    PlaybackStartedEvent,
)

from ..db.models import Broadcast, Command, Delivery, Device, DeviceZone, Media, ScheduledPlay
from ..domain.report_checks import (
    CommandRecord,
    PlayRecord,
    Refusal,
    check_ack,
    check_finished,
    check_started,
    reaches,
)

PLAY_REPORTS = (
    MediaReadyEvent,
    PlaybackStartedEvent,
    PlaybackFinishedEvent,
    PlaybackFailedEvent,
    PlaybackHeardEvent,  # "heard" for a play never sent is refused like any report of it
)
"""Reports about a play: each must name one sent to its device."""


@dataclass(frozen=True)
class CommandFacts:
    """A recorded command, as ingest needs it (commands never change: cached)."""

    broadcast_id: str | None
    record: CommandRecord


class Evidence:
    """The record for one batch: plays sent per device, commands, zones, clock offsets."""

    def __init__(
        self,
        session: Session,
        reports: Iterable[tuple[str, Any]],
        commands: dict[str, CommandFacts],
    ):
        """``reports``: (device id, model) of every ack and event in the batch; ``commands``
        the cache of recorded commands (filled here with what the batch names)."""
        reports = list(reports)
        self.commands = commands
        wanted = {c for _, m in reports if (c := getattr(m, "cmd_id", None))} - commands.keys()
        if wanted:
            for row in session.execute(
                select(
                    Command.cmd_id,
                    Command.broadcast_id,
                    Command.target,
                    Command.issued_at,
                    Command.not_after,
                ).where(Command.cmd_id.in_(wanted))
            ):
                commands[row.cmd_id] = CommandFacts(
                    row.broadcast_id, CommandRecord(row.target, row.issued_at, row.not_after)
                )
        plays = {(m.play_id, d) for d, m in reports if isinstance(m, PLAY_REPORTS)}
        play_ids = {p for p, _ in plays}
        self._broadcasts: dict[str, PlayRecord] = {}
        self._delivered: set[tuple[str, str]] = set()
        self._scheduled: dict[str, tuple[PlayRecord, list[str]]] = {}
        if play_ids:
            for b, duration_ms in session.execute(
                select(Broadcast, Media.duration_ms)
                .outerjoin(Media)
                .where(Broadcast.id.in_(play_ids))
            ):
                self._broadcasts[b.id] = _broadcast_record(b, duration_ms)
            self._delivered = (
                set(
                    session.execute(
                        select(Delivery.broadcast_id, Delivery.device_id).where(
                            Delivery.broadcast_id.in_(self._broadcasts),
                            Delivery.device_id.in_({d for _, d in plays}),
                        )
                    )
                )
                if self._broadcasts
                else set()
            )
            rest = play_ids - self._broadcasts.keys()
            if rest:
                for s in session.scalars(
                    select(ScheduledPlay).where(ScheduledPlay.play_id.in_(rest))
                ):
                    duration = (
                        None if s.duration_ms is None else timedelta(milliseconds=s.duration_ms)
                    )
                    self._scheduled[s.play_id] = (
                        PlayRecord(s.start_at, s.latest_start, s.ends_by, duration),
                        list(s.targets),
                    )
        devices = {d for d, _ in reports}
        self._zones: dict[str, frozenset[str]] = {}
        if devices:
            zones: dict[str, set[str]] = defaultdict(set)
            for device_id, zone_id in session.execute(
                select(DeviceZone.device_id, DeviceZone.zone_id).where(
                    DeviceZone.device_id.in_(devices)
                )
            ):
                zones[device_id].add(zone_id)
            self._zones = {d: frozenset(zones.get(d, ())) for d in devices}
        timed = {
            d
            for d, m in reports
            if isinstance(m, (PlaybackStartedEvent, PlaybackFinishedEvent, AckMessage))
        }
        self._offsets: dict[str, float | None] = {}
        if timed:
            for device_id, health in session.execute(
                select(Device.id, Device.last_health).where(Device.id.in_(timed))
            ):
                offset = (health or {}).get("clock_offset_ms")
                self._offsets[device_id] = offset if isinstance(offset, (int, float)) else None

    def play(self, device_id: str, play_id: str) -> PlayRecord | None:
        """The play as sent to this device, or None if it never was."""
        record = self._broadcasts.get(play_id)
        if record is not None:
            return record if (play_id, device_id) in self._delivered else None
        scheduled = self._scheduled.get(play_id)
        if scheduled is None:
            return None
        record, targets = scheduled
        zones = self._zones.get(device_id, frozenset())
        return record if any(reaches(t, device_id, zones) for t in targets) else None

    def refusal(self, device_id: str, model: Any, received_at: datetime) -> Refusal | None:
        """Why this report is not believable (None: it is); ``received_at``: when it reached
        the controller (nothing it tells can have happened after)."""
        if isinstance(model, AckMessage):
            facts = self.commands.get(model.cmd_id)
            return check_ack(
                facts.record if facts else None,
                device_id,
                self._zones.get(device_id, frozenset()),
                model.ts,
                self._offsets.get(device_id),
            )
        if not isinstance(model, PLAY_REPORTS):
            return None
        record = self.play(device_id, model.play_id)
        if isinstance(model, PlaybackStartedEvent):
            offset = (
                model.clock_offset_ms
                if model.clock_offset_ms is not None
                else self._offsets.get(device_id)
            )
            return check_started(record, model.actual_start, offset, received_at)
        if isinstance(model, PlaybackFinishedEvent):
            return check_finished(
                record,
                model.actual_start,
                model.actual_end,
                model.played_ms,
                self._offsets.get(device_id),
                received_at,
            )
        return None if record is not None else Refusal.not_sent


def _broadcast_record(b: Broadcast, duration_ms: int | None) -> PlayRecord:
    """A broadcast's window: a stored file ends with its audio; a stream with its slot, or
    when it was ended (a live voice)."""
    if duration_ms is not None:
        length: timedelta | None = timedelta(milliseconds=duration_ms)
        ends_by: datetime | None = b.start_at + length
    else:
        length = None
        slot = b.start_at + timedelta(seconds=int((b.stream or {}).get("duration_s", 0)))
        ends_by = min(slot, b.ended_at) if b.ended_at is not None else slot
    return PlayRecord(b.start_at, b.not_after, ends_by, length)
