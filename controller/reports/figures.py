"""The report's arithmetic, with no I/O: success rates over outcomes (``domain/outcome.py``),
how long a cluster was online in a period, and the month's days in the station's time zone."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..domain.device import DeviceStatus
from ..domain.outcome import Outcome


def counts_toward_success(outcome: Outcome) -> bool:
    """The success rate's denominator: what was meant to play (a cancelled one was not; one
    still on its way is not counted yet)."""
    return outcome not in (Outcome.cancelled, Outcome.waiting)


def success_rate(outcomes: Iterable[Outcome]) -> float | None:
    """Played to the end on every line / meant to play; None when nothing was meant to play.
    A play with a dead speaker line (``fault``) is not a success: part of the village did not
    hear it."""
    meant = [o for o in outcomes if counts_toward_success(o)]
    return sum(o is Outcome.played for o in meant) / len(meant) if meant else None


Span = tuple[datetime, datetime]
"""``[start, end)``."""


def online_spans(
    changes: Sequence[tuple[datetime, str]], before: str | None, start: datetime, end: datetime
) -> list[Span]:
    """When in ``[start, end)`` a cluster was ``online``, from its status changes inside it
    (in time order) and the status held at ``start`` (``before``; None: not known yet, which
    counts as not online)."""
    spans: list[Span] = []
    status, since = before, start
    for at, new in changes:
        at = min(max(at, start), end)
        if status == DeviceStatus.online and at > since:
            spans.append((since, at))
        status, since = new, at
    if status == DeviceStatus.online and end > since:
        spans.append((since, end))
    return spans


def online_seconds(
    changes: Sequence[tuple[datetime, str]], before: str | None, start: datetime, end: datetime
) -> float:
    """Seconds in ``[start, end)`` spent ``online`` (see ``online_spans``)."""
    return seconds(online_spans(changes, before, start, end))


def seconds(spans: Iterable[Span]) -> float:
    return sum((hi - lo).total_seconds() for lo, hi in spans)


def merged(spans: Iterable[Span]) -> list[Span]:
    """The same instants as fewer spans, in time order, none touching another."""
    out: list[Span] = []
    for lo, hi in sorted(spans):
        if hi <= lo:
            continue
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def clipped(spans: Iterable[Span], start: datetime, end: datetime) -> list[Span]:
    """The parts of ``spans`` inside ``[start, end)``."""
    return [(max(lo, start), min(hi, end)) for lo, hi in spans if hi > start and lo < end]


def without(spans: Iterable[Span], cut: Sequence[Span]) -> list[Span]:
    """``spans`` less the instants in ``cut`` (merged, in time order)."""
    out: list[Span] = []
    for lo, hi in spans:
        for c_lo, c_hi in cut:
            if c_hi <= lo or c_lo >= hi:
                continue
            if c_lo > lo:
                out.append((lo, c_lo))
            lo = max(lo, c_hi)
            if lo >= hi:
                break
        if lo < hi:
            out.append((lo, hi))
    return out


def watched_online(
    changes: Sequence[tuple[datetime, str]],
    before: str | None,
    start: datetime,
    end: datetime,
    down: Sequence[Span],
) -> tuple[float, float]:
    """Seconds of ``[start, end)`` the controller watched (outside ``down``), and of those
    the cluster spent online: the two figures every uptime ratio is made of."""
    if end <= start:
        return 0.0, 0.0
    watched = seconds(without([(start, end)], down))
    if watched <= 0:
        return 0.0, 0.0
    return watched, seconds(without(online_spans(changes, before, start, end), down))


def controller_down(runs: Iterable[Span], start: datetime, end: datetime) -> list[Span]:
    """When in ``[start, end)`` no controller was watching the fleet: the gaps between its
    runs (each from its start to the last time it said it was alive). Before the first run
    on record nothing is known, so nothing is counted as down; after the last one the
    controller making the report is running."""
    alive = merged(runs)
    gaps = [(a[1], b[0]) for a, b in zip(alive, alive[1:], strict=False)]
    return clipped(gaps, start, end)


def percent(ratio: float | None) -> str:
    """A ratio as ``99.9%``, floored to a tenth so a month with a few minutes lost never
    reads "100.0%"; empty when there is none."""
    if ratio is None:
        return ""
    tenths = math.floor(ratio * 1000 + 1e-9)
    return f"{tenths / 10:.1f}%"


def mean_repair_minutes(repairs: Iterable[tuple[datetime, datetime]]) -> float | None:
    """Mean time to repair: the mean of cleared − raised over alarms that cleared."""
    spans = [(cleared - raised).total_seconds() / 60 for raised, cleared in repairs]
    return sum(spans) / len(spans) if spans else None


def month_bounds(month: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """``YYYY-MM`` → its first instant and the next month's, in the station's time zone."""
    try:
        year, mon = (int(part) for part in month.split("-"))
        first = date(year, mon, 1)
    except ValueError as exc:
        raise ValueError(f"not a month (YYYY-MM): {month!r}") from exc
    after = date(year + (mon == 12), mon % 12 + 1, 1)
    return (datetime.combine(first, time(), zone), datetime.combine(after, time(), zone))


def local_days(
    start: datetime, end: datetime, zone: ZoneInfo
) -> list[tuple[date, datetime, datetime]]:
    """Each local day touching ``[start, end)``: (day, its start, its end), clipped."""
    out = []
    day = start.astimezone(zone).date()
    while True:
        lo = max(datetime.combine(day, time(), zone), start)
        hi = min(datetime.combine(day + timedelta(days=1), time(), zone), end)
        if lo >= end:
            break
        out.append((day, lo, hi))
        day += timedelta(days=1)
    return out
