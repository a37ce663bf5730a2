"""When a broadcast is sent, when it starts, and until when a late agent may still start it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class BroadcastTiming:
    send_at: datetime
    start_at: datetime
    not_after: datetime


class TimingError(ValueError):
    """The requested start time cannot be honoured (e.g. it lies in the past)."""


def plan_timing(
    *,
    now: datetime,
    requested_start: datetime | None,
    sync_lead: timedelta,
    prefetch_lead: timedelta,
    max_late: timedelta,
) -> BroadcastTiming:
    """Timing of a broadcast requested at ``now``.

    "Now" broadcasts start ``sync_lead`` ahead so every agent can start together; a broadcast
    at a given time is sent ``prefetch_lead`` ahead so agents fetch the audio before it starts.
    """
    if requested_start is None:
        start_at = now + sync_lead
        return BroadcastTiming(send_at=now, start_at=start_at, not_after=start_at + max_late)
    if requested_start.tzinfo is None:
        raise TimingError("start time needs a timezone")
    if requested_start < now:
        raise TimingError("start time is in the past")
    start_at = max(requested_start, now + sync_lead)
    send_at = max(now, start_at - prefetch_lead)
    return BroadcastTiming(send_at=send_at, start_at=start_at, not_after=start_at + max_late)
