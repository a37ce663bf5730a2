"""The report's arithmetic, with no I/O: success rates over outcomes (``domain/outcome.py``),
how long a cluster was online in a period, and the month's days in the station's time zone."""

from __future__ import annotations

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


def online_seconds(
    changes: Sequence[tuple[datetime, str]], before: str | None, start: datetime, end: datetime
) -> float:
    """Seconds in ``[start, end)`` spent ``online``, from the status changes inside it (in
    time order) and the status held at ``start`` (``before``; None: not known yet, which
    counts as not online)."""
    total = 0.0
    status, since = before, start
    for at, new in changes:
        at = min(max(at, start), end)
        if status == DeviceStatus.online:
            total += (at - since).total_seconds()
        status, since = new, at
    if status == DeviceStatus.online:
        total += (end - since).total_seconds()
    return max(0.0, total)


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
