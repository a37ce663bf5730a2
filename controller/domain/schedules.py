"""Recurring programmes in local civil time, expanded into concrete plays, and their checks.

Pure logic, no I/O: recurrence is RFC 5545 RRULE through python-dateutil, evaluated in the
site's time zone (``Asia/Ho_Chi_Minh`` by default) and turned into UTC instants.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Annotated, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrulestr
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from protocol.messages import Ident, Priority, Sha256, Target

Day = date  # alias: ScheduleSpec has a field named "date"

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
NEVER_FIRES_HORIZON = timedelta(days=400)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MediaItem(_Model):
    """A stored bulletin, by the SHA-256 the controller gave it."""

    media: Sha256


class RelayItem(_Model):
    """A live stream (VOV, provincial station) relayed for a fixed time."""

    relay: str = Field(pattern=r"^https?://", max_length=500)
    duration_s: int = Field(ge=1, le=6 * 3600)
    fallback: list[str] = Field(default_factory=list, max_length=5,
                                description="URLs tried in order when the relay is down")

    @field_validator("fallback")
    @classmethod
    def _http_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("http://", "https://")) or len(url) > 500:
                raise ValueError(f"fallback {url[:60]!r} is not an http(s) URL")
        return value


ProgrammeItem = Annotated[Union[MediaItem, RelayItem], Field(union_mode="left_to_right")]


class ScheduleSpec(_Model):
    """One programme and when it plays: once (``date``) or on a recurrence rule (``rrule``)."""

    name: Ident
    title: str = Field("", max_length=200)
    targets: list[Target] = Field(min_length=1)
    priority: Literal["background", "normal", "priority", "emergency"] = "normal"
    start: time = Field(description="local civil time of the first item")
    rrule: str | None = Field(None, description="RFC 5545 rule, e.g. FREQ=WEEKLY;BYDAY=MO")
    date: Day | None = Field(None, description="for a one-off programme")
    valid_from: Day | None = None
    valid_until: Day | None = None
    except_dates: list[Day] = Field(default_factory=list)
    slot_minutes: int | None = Field(None, ge=1, le=24 * 60)
    timezone: str | None = None
    programme: list[ProgrammeItem] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("rrule")
    @classmethod
    def _parsable(cls, value: str | None) -> str | None:
        if value is not None:
            if "DTSTART" in value.upper():
                raise ValueError("give start/valid_from/valid_until instead of DTSTART")
            try:
                rrulestr(value, dtstart=datetime(2026, 1, 1))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"invalid rrule: {exc}") from None
        return value

    @model_validator(mode="after")
    def _once_or_recurring(self) -> ScheduleSpec:
        if (self.rrule is None) == (self.date is None):
            raise ValueError("give either 'rrule' (recurring) or 'date' (once)")
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        rule = (self.rrule or "").upper()
        if ("INTERVAL=" in rule or "COUNT=" in rule) and self.valid_from is None:
            # every 2nd day / the first 5 times: counted from valid_from, so it must be given
            raise ValueError("a rule with INTERVAL or COUNT needs valid_from to count from")
        return self

    @property
    def rank(self) -> int:
        return Priority(self.priority).rank


class QuietHours(_Model):
    """Only emergencies may play between ``start`` and ``end`` (local time; may cross midnight)."""

    zones: list[str] = Field(default_factory=lambda: ["*"], description='zone ids, or "*"')
    start: time
    end: time


class ScheduleSet(_Model):
    """Everything a site schedules: its time zone, quiet hours and programmes."""

    timezone: str = DEFAULT_TIMEZONE
    quiet_hours: list[QuietHours] = Field(default_factory=list)
    schedules: list[ScheduleSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> ScheduleSet:
        seen: set[str] = set()
        for s in self.schedules:
            if s.name in seen:
                raise ValueError(f"schedule name {s.name!r} is used twice")
            seen.add(s.name)
        return self


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


@dataclass(frozen=True)
class Problem:
    schedule: str
    code: str
    message: str


# --- expansion ------------------------------------------------------------------------------


def programme_duration(spec: ScheduleSpec, media_ms: Mapping[str, int]) -> timedelta:
    """Length of a programme; unknown media count as zero (reported separately)."""
    total = 0
    for item in spec.programme:
        if isinstance(item, MediaItem):
            total += media_ms.get(item.media, 0)
        else:
            total += item.duration_s * 1000
    return timedelta(milliseconds=total)


def expand(spec: ScheduleSpec, start: datetime, end: datetime, *, site_tz: str = DEFAULT_TIMEZONE,
           media_ms: Mapping[str, int] | None = None) -> list[Occurrence]:
    """Occurrences of ``spec`` starting in [start, end) (aware datetimes), in time order."""
    zone = ZoneInfo(spec.timezone or site_tz)
    duration = programme_duration(spec, media_ms or {})
    local_from = start.astimezone(zone).replace(tzinfo=None)
    local_to = end.astimezone(zone).replace(tzinfo=None)
    if spec.date is not None:
        candidates: Iterable[datetime] = [datetime.combine(spec.date, spec.start)]
    else:
        first_day = spec.valid_from or (local_from.date() - timedelta(days=1))
        rule = rrulestr(spec.rrule or "", dtstart=datetime.combine(first_day, spec.start))
        candidates = rule.between(local_from - timedelta(days=1), local_to, inc=True)
    excluded = set(spec.except_dates)
    out = []
    for local in candidates:
        day = local.date()
        if day in excluded or (spec.valid_from and day < spec.valid_from) or \
                (spec.valid_until and day > spec.valid_until):
            continue
        begin = local.replace(tzinfo=zone).astimezone(timezone.utc)
        if not start <= begin < end:
            continue
        out.append(Occurrence(
            schedule=spec.name, play_id=f"s-{spec.name}-{local:%Y%m%dT%H%M}", start=begin,
            end=begin + duration, rank=spec.rank, priority=spec.priority,
            targets=tuple(spec.targets), local_start=local))
    return out


def expand_all(schedules: ScheduleSet, start: datetime, end: datetime,
               media_ms: Mapping[str, int] | None = None) -> list[Occurrence]:
    occurrences = [o for s in schedules.schedules
                   for o in expand(s, start, end, site_tz=schedules.timezone, media_ms=media_ms)]
    return sorted(occurrences, key=lambda o: (o.start, -o.rank, o.schedule))


# --- targets --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fleet:
    """Which devices each zone holds, to tell whether two targets share a loudspeaker."""

    zones: Mapping[str, frozenset[str]]

    @property
    def devices(self) -> frozenset[str]:
        return frozenset().union(*self.zones.values()) if self.zones else frozenset()

    def devices_of(self, target: str) -> frozenset[str]:
        if target == "all":
            return self.devices | {"*"}
        kind, _, ident = target.partition(":")
        if kind == "zone":
            return self.zones.get(ident, frozenset()) | {f"zone:{ident}"}
        return frozenset({ident})

    def zones_of(self, target: str) -> set[str]:
        if target == "all":
            return set(self.zones) | {"*"}
        kind, _, ident = target.partition(":")
        if kind == "zone":
            return {ident}
        return {z for z, members in self.zones.items() if ident in members}


def _reach(o: Occurrence, fleet: Fleet) -> frozenset[str]:
    return frozenset().union(*(fleet.devices_of(t) for t in o.targets))


def _share(a: frozenset[str], b: frozenset[str]) -> bool:
    return bool(a & b) or "*" in a or "*" in b


# --- checks ---------------------------------------------------------------------------------


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


def check(schedules: ScheduleSet, *, now: datetime, horizon: timedelta = timedelta(days=14),
          media_ms: Mapping[str, int] | None = None, fleet: Fleet | None = None
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
                if isinstance(item, MediaItem) and item.media not in media_ms:
                    problems.append(Problem(spec.name, "missing_media",
                                            f"media {item.media[:12]}… is not on the controller"))
            length = programme_duration(spec, media_ms)
            if spec.slot_minutes and length > timedelta(minutes=spec.slot_minutes):
                problems.append(Problem(
                    spec.name, "longer_than_slot",
                    f"programme lasts {_mmss(length)}, slot is {spec.slot_minutes} min"))
        window_from = now
        if spec.valid_from:
            zone = ZoneInfo(spec.timezone or schedules.timezone)
            window_from = max(now, datetime.combine(spec.valid_from, time(0), zone))
        if not expand(spec, window_from, window_from + NEVER_FIRES_HORIZON,
                      site_tz=schedules.timezone):
            problems.append(Problem(spec.name, "never_fires",
                                    "no occurrence from now on (check date, rule and validity)"))
    occurrences = expand_all(schedules, now, now + horizon, media_ms)
    problems += _quiet_problems(schedules, occurrences, fleet)
    problems += _conflicts(occurrences, fleet)
    return problems


def _quiet_problems(schedules: ScheduleSet, occurrences: list[Occurrence], fleet: Fleet
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
                out.append(Problem(o.schedule, "quiet_hours",
                                   f"plays at {o.local_start:%Y-%m-%d %H:%M} inside quiet hours "
                                   f"{quiet.start:%H:%M}–{quiet.end:%H:%M}"))
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
            msg = (f"overlaps '{a.schedule}' at "
                   f"{o.local_start:%Y-%m-%d %H:%M} on a shared target, same priority "
                   f"({o.priority})")
            out.append(Problem(o.schedule, "conflict", msg))
        active.append((o, reach))
    return out


@dataclass(frozen=True)
class PreviewRow:
    occurrence: Occurrence
    preempts: tuple[str, ...]  # play ids of lower-priority plays it cuts into


def preview(schedules: ScheduleSet, start: datetime, end: datetime,
            media_ms: Mapping[str, int] | None = None, fleet: Fleet | None = None
            ) -> list[PreviewRow]:
    """What plays when and where, and which higher-priority play cuts into which."""
    fleet = fleet or Fleet({})
    occurrences = expand_all(schedules, start, end, media_ms)
    rows = []
    for o in occurrences:
        reach = _reach(o, fleet)
        cut = tuple(p.play_id for p in occurrences
                    if p.rank < o.rank and p.start < o.end and o.start < p.end
                    and _share(reach, _reach(p, fleet)))
        rows.append(PreviewRow(o, cut))
    return rows


def _mmss(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds // 60}:{seconds % 60:02d}"
