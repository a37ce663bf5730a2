"""Is a device's report about a play or a command believable? Pure: the record in, a refusal
reason (or None) out.

A device's credential may only speak for itself (the broker's ACL), but it could still claim
anything about its own plays: loa-dong-1 once marked a bulletin due at 01:44:05 as played at
01:40:43, before it was even sent, and a neighbour's ``playback.finished`` for a bulletin sent
only to loa-dong-1 went into the broadcast log under the neighbour. So a report must name a
play (or command) that was sent to that device, and its times must fall within that play's
window, on true time: the device's clock corrected by the offset it reported, with
``TOLERANCE`` either side.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

TOLERANCE = timedelta(seconds=10)
"""Slack on every time check, beyond the device's reported clock offset: a reading taken a
moment apart, a clock stepped by NTP between two reports. The incident it answers was minutes."""


class Refusal(str, enum.Enum):
    """Why a report was refused (stored as the reason of a security event)."""

    not_sent = "not_sent"  # names a play or command never sent to this device
    before_start = "before_start"  # says it started before the play's start
    after_window = "after_window"  # says it started after the play's window had ended
    ends_too_late = "ends_too_late"  # says it ended after the play's window had ended
    ends_before_start = "ends_before_start"
    played_too_long = "played_too_long"  # longer than the audio
    from_the_future = "from_the_future"  # about a moment that had not come when it arrived
    ack_out_of_window = "ack_out_of_window"  # acked before its issue or after its expiry


@dataclass(frozen=True)
class PlayRecord:
    """What the controller sent: a play starts at ``start_at``, may start late until
    ``latest_start`` (joining in step), and is over by ``ends_by`` (None: a live voice still
    on air)."""

    start_at: datetime
    latest_start: datetime
    ends_by: datetime | None
    duration: timedelta | None  # the audio's length; None for a stream


@dataclass(frozen=True)
class CommandRecord:
    """A signed command as recorded: issued, valid until, addressed to."""

    target: str
    issued_at: datetime
    not_after: datetime


def reaches(target: str, device_id: str, zones: frozenset[str]) -> bool:
    """Whether a command's target (``all``, ``device:ID``, ``zone:ID``) reaches the device."""
    kind, _, name = target.partition(":")
    return (
        target == "all"
        or (kind == "device" and name == device_id)
        or (kind == "zone" and name in zones)
    )


def _true(device_time: datetime, offset_ms: float | None) -> datetime:
    """A device's clock reading as true time (offset = true minus device, NTP's θ)."""
    return device_time + timedelta(milliseconds=offset_ms or 0.0)


def check_started(
    record: PlayRecord | None,
    actual_start: datetime,
    offset_ms: float | None,
    received_at: datetime,
) -> Refusal | None:
    """A ``playback.started`` report."""
    if record is None:
        return Refusal.not_sent
    start = _true(actual_start, offset_ms)
    if start < record.start_at - TOLERANCE:
        return Refusal.before_start
    if start > record.latest_start + TOLERANCE:
        return Refusal.after_window
    if start > received_at + TOLERANCE:
        return Refusal.from_the_future
    return None


def check_finished(
    record: PlayRecord | None,
    actual_start: datetime,
    actual_end: datetime,
    played_ms: int,
    offset_ms: float | None,
    received_at: datetime,
) -> Refusal | None:
    """A ``playback.finished`` report: its start as above, and an end inside the window."""
    refused = check_started(record, actual_start, offset_ms, received_at)
    if refused is not None or record is None:
        return refused
    end = _true(actual_end, offset_ms)
    if actual_end < actual_start:
        return Refusal.ends_before_start
    if record.ends_by is not None and end > record.ends_by + TOLERANCE:
        return Refusal.ends_too_late
    if end > received_at + TOLERANCE:
        return Refusal.from_the_future
    if (
        record.duration is not None
        and timedelta(milliseconds=played_ms) > record.duration + TOLERANCE
    ):
        return Refusal.played_too_long
    return None


def check_ack(
    record: CommandRecord | None,
    device_id: str,
    zones: frozenset[str],
    ts: datetime,
    offset_ms: float | None,
) -> Refusal | None:
    """An ack names a command sent to this device, acknowledged while it was valid."""
    if record is None or not reaches(record.target, device_id, zones):
        return Refusal.not_sent
    at = _true(ts, offset_ms)
    if not record.issued_at - TOLERANCE <= at <= record.not_after + TOLERANCE:
        return Refusal.ack_out_of_window
    return None
