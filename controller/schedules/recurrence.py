"""Schedules expanded into concrete occurrences (UTC instants), as pure functions.

Recurrence is RFC 5545 RRULE through python-dateutil, evaluated in the site's time zone
(``Asia/Ho_Chi_Minh`` by default) and turned into UTC instants.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import takewhile
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from .model import DEFAULT_TIMEZONE, RelayItem, ScheduleSet, ScheduleSpec


@dataclass(frozen=True)
class Occurrence:
    """One concrete play of a schedule."""

    schedule: str
    play_id: str
    start: datetime  # UTC
    end: datetime  # UTC
    rank: int
    priority: str
    targets: tuple[str, ...]
    local_start: datetime


def programme_duration(spec: ScheduleSpec, media_ms: Mapping[str, int]) -> timedelta:
    """Length of a programme; unknown media (and texts not yet spoken) count as zero."""
    total = 0
    for item in spec.programme:
        if isinstance(item, RelayItem):
            total += item.duration_s * 1000
        elif item.media is not None:
            total += media_ms.get(item.media, 0)
    return timedelta(milliseconds=total)


def expand(
    spec: ScheduleSpec,
    start: datetime,
    end: datetime,
    *,
    site_tz: str = DEFAULT_TIMEZONE,
    media_ms: Mapping[str, int] | None = None,
) -> list[Occurrence]:
    """Occurrences of ``spec`` starting in [start, end) (aware datetimes), in time order."""
    return list(occurrences(spec, start, end, site_tz=site_tz, media_ms=media_ms))


def fires(
    spec: ScheduleSpec, start: datetime, end: datetime, *, site_tz: str = DEFAULT_TIMEZONE
) -> bool:
    """Whether ``spec`` has an occurrence in [start, end): stops at the first (a daily rule
    over 400 days is 400 occurrences to build otherwise, for each of a province's schedules)."""
    return next(occurrences(spec, start, end, site_tz=site_tz), None) is not None


def occurrences(
    spec: ScheduleSpec,
    start: datetime,
    end: datetime,
    *,
    site_tz: str = DEFAULT_TIMEZONE,
    media_ms: Mapping[str, int] | None = None,
) -> Iterator[Occurrence]:
    """``expand``, one occurrence at a time."""
    zone = ZoneInfo(spec.timezone or site_tz)
    duration = programme_duration(spec, media_ms or {})
    local_from = start.astimezone(zone).replace(tzinfo=None)
    local_to = end.astimezone(zone).replace(tzinfo=None)
    if spec.date is not None:
        candidates: Iterable[datetime] = [datetime.combine(spec.date, spec.start)]
    else:
        first_day = spec.valid_from or (local_from.date() - timedelta(days=1))
        rule = rrulestr(spec.rrule or "", dtstart=datetime.combine(first_day, spec.start))
        candidates = takewhile(
            lambda local: local <= local_to, rule.xafter(local_from - timedelta(days=1), inc=True)
        )
    excluded = set(spec.except_dates)
    for local in candidates:
        day = local.date()
        if (
            day in excluded
            or (spec.valid_from and day < spec.valid_from)
            or (spec.valid_until and day > spec.valid_until)
        ):
            continue
        begin = local.replace(tzinfo=zone).astimezone(timezone.utc)
        if not start <= begin < end:
            continue
        yield Occurrence(
            schedule=spec.name,
            play_id=f"s-{spec.name}-{local:%Y%m%dT%H%M}",
            start=begin,
            end=begin + duration,
            rank=spec.rank,
            priority=spec.priority,
            targets=tuple(spec.targets),
            local_start=local,
        )


def expand_all(
    schedules: ScheduleSet,
    start: datetime,
    end: datetime,
    media_ms: Mapping[str, int] | None = None,
) -> list[Occurrence]:
    occurrences = [
        o
        for s in schedules.schedules
        for o in expand(s, start, end, site_tz=schedules.timezone, media_ms=media_ms)
    ]
    return sorted(occurrences, key=lambda o: (o.start, -o.rank, o.schedule))
