"""Every problem a schedule set has before it is saved, and the preview of what plays when.

Pure logic: overlaps of equal priority on a shared loudspeaker, quiet hours, missing media,
programmes longer than their slot, rules that never fire.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from .model import MediaItem, QuietHours, RelayItem, ScheduleSet, TextItem
from .recurrence import Occurrence, expand_all, fires, programme_duration
from .targets import Fleet

NEVER_FIRES_HORIZON = timedelta(days=400)


@dataclass(frozen=True)
class Problem:
    schedule: str
    code: str
    message: str


def _reach(o: Occurrence, fleet: Fleet) -> frozenset[str]:
    return frozenset().union(*(fleet.devices_of(t) for t in o.targets))


def _share(a: frozenset[str], b: frozenset[str]) -> bool:
    return bool(a & b) or "*" in a or "*" in b


def _in_quiet(local: datetime, length: timedelta, quiet: QuietHours) -> bool:
    """Whether [local, local+length) touches the quiet window (which may cross midnight)."""
    for day_offset in (-1, 0):
        day = local.date() + timedelta(days=day_offset)
        q_start = datetime.combine(day, quiet.start)
        q_end = datetime.combine(day, quiet.end)
        if q_end <= q_start:
            q_end += timedelta(days=1)
        if local < q_end and local + max(length, timedelta(seconds=1)) > q_start:
            return True
    return False


def quiet_at(
    local_start: datetime, zones: set[str], quiet_hours: list[QuietHours]
) -> QuietHours | None:
    """The quiet window a play starting at ``local_start`` (local civil time) in ``zones``
    falls into, if any (only emergencies may start there)."""
    for quiet in quiet_hours:
        if ("*" in quiet.zones or bool(zones & set(quiet.zones))) and _in_quiet(
            local_start, timedelta(0), quiet
        ):
            return quiet
    return None


def check(
    schedules: ScheduleSet,
    *,
    now: datetime,
    horizon: timedelta = timedelta(days=14),
    media_ms: Mapping[str, int] | None = None,
    fleet: Fleet | None = None,
) -> list[Problem]:
    """Every problem a broadcaster must fix before saving, each named by schedule.

    ``media_ms`` (sha256 → duration) enables the missing-media and slot checks; ``fleet`` lets
    zone and device targets be compared (without it, equal target strings and ``all`` clash).
    """
    fleet = fleet or Fleet({})
    problems: list[Problem] = []
    for spec in schedules.schedules:
        if media_ms is not None:
            for item in spec.programme:
                if (
                    isinstance(item, (MediaItem, TextItem))
                    and item.media is not None
                    and item.media not in media_ms
                ):
                    problems.append(
                        Problem(
                            spec.name,
                            "missing_media",
                            f"media {item.media[:12]}… is not on the controller",
                        )
                    )
                if (
                    isinstance(item, RelayItem)
                    and item.fallback_media is not None
                    and item.fallback_media not in media_ms
                ):
                    problems.append(
                        Problem(
                            spec.name,
                            "missing_media",
                            f"the relay's fallback {item.fallback_media[:12]}… "
                            "is not on the controller",
                        )
                    )
            length = programme_duration(spec, media_ms)
            if spec.slot_minutes and length > timedelta(minutes=spec.slot_minutes):
                problems.append(
                    Problem(
                        spec.name,
                        "longer_than_slot",
                        f"programme lasts {_mmss(length)}, slot is {spec.slot_minutes} min",
                    )
                )
        window_from = now
        if spec.valid_from:
            zone = ZoneInfo(spec.timezone or schedules.timezone)
            window_from = max(now, datetime.combine(spec.valid_from, time(0), zone))
        if not fires(
            spec, window_from, window_from + NEVER_FIRES_HORIZON, site_tz=schedules.timezone
        ):
            problems.append(
                Problem(
                    spec.name,
                    "never_fires",
                    "no occurrence from now on (check date, rule and validity)",
                )
            )
    occurrences = expand_all(schedules, now, now + horizon, media_ms)
    problems += _quiet_problems(schedules, occurrences, fleet)
    problems += _conflicts(occurrences, fleet)
    return problems


def _quiet_problems(
    schedules: ScheduleSet, occurrences: list[Occurrence], fleet: Fleet
) -> list[Problem]:
    reported: set[str] = set()
    out = []
    for o in occurrences:
        if o.priority == "emergency" or o.schedule in reported:
            continue
        zones = set().union(*(fleet.zones_of(t) for t in o.targets))
        for quiet in schedules.quiet_hours:
            applies = "*" in quiet.zones or "*" in zones or bool(zones & set(quiet.zones))
            if applies and _in_quiet(o.local_start, o.end - o.start, quiet):
                reported.add(o.schedule)
                out.append(
                    Problem(
                        o.schedule,
                        "quiet_hours",
                        f"plays at {o.local_start:%Y-%m-%d %H:%M} inside quiet hours "
                        f"{quiet.start:%H:%M}–{quiet.end:%H:%M}",
                    )
                )
                break
    return out


def _conflicts(occurrences: list[Occurrence], fleet: Fleet) -> list[Problem]:
    """Equal-priority occurrences overlapping on a shared target (first clash per pair)."""
    out = []
    seen: set[tuple[str, str]] = set()
    active: list[tuple[Occurrence, frozenset[str]]] = []
    for o in occurrences:
        reach = _reach(o, fleet)
        active = [(a, r) for a, r in active if a.end > o.start]
        for a, r in active:
            if a.rank != o.rank or not _share(reach, r):
                continue
            pair = (min(a.schedule, o.schedule), max(a.schedule, o.schedule))
            if pair in seen:
                continue
            seen.add(pair)
            msg = (
                f"overlaps '{a.schedule}' at "
                f"{o.local_start:%Y-%m-%d %H:%M} on a shared target, same priority "
                f"({o.priority})"
            )
            out.append(Problem(o.schedule, "conflict", msg))
        active.append((o, reach))
    return out


@dataclass(frozen=True)
class PreviewRow:
    occurrence: Occurrence
    preempts: tuple[str, ...]  # play ids of lower-priority plays it cuts into


def preview(
    schedules: ScheduleSet,
    start: datetime,
    end: datetime,
    media_ms: Mapping[str, int] | None = None,
    fleet: Fleet | None = None,
) -> list[PreviewRow]:
    """What plays when and where, and which higher-priority play cuts into which."""
    fleet = fleet or Fleet({})
    occurrences = expand_all(schedules, start, end, media_ms)
    rows = []
    for o in occurrences:
        reach = _reach(o, fleet)
        cut = tuple(
            p.play_id
            for p in occurrences
            if p.rank < o.rank
            and p.start < o.end
            and o.start < p.end
            and _share(reach, _reach(p, fleet))
        )
        rows.append(PreviewRow(o, cut))
    return rows


def _mmss(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds // 60}:{seconds % 60:02d}"
