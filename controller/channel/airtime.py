"""What the station's channel carries at an instant: the play the loudspeakers are sounding.

Pure, no I/O. The loudspeakers play each broadcast from its ``start_at`` on the station's
clock; a higher priority cuts a lower one, which replays from its start once the higher one
is over while its play window (``not_after``) is still open, as the agents do
(``edge_agent/resume.py``); a stream (live, relay) simply rejoins. Where different villages
hear different plays at once, the channel carries the one of highest priority, then the one
that reaches the most devices, then the one that began first.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from protocol.messages import Priority


@dataclass(frozen=True)
class AirItem:
    """One broadcast as the channel sees it (``source`` a media hash or a stream URL)."""

    play_id: str
    start: datetime
    duration_s: float
    priority: Priority
    reach: int  # how many devices it was sent to
    source: str
    stream: bool = False
    not_after: datetime | None = None  # a bulletin cut by a higher priority replays until then
    replay_of: str | None = None  # this is that replay (its own start)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.duration_s)

    def covers(self, at: datetime) -> bool:
        return self.start <= at < self.end


@dataclass(frozen=True)
class OnAir:
    """The play sounding at an instant, and how far into it (seconds)."""

    item: AirItem
    offset_s: float


def _rank(item: AirItem) -> tuple[int, int, float, str]:
    return (item.priority.rank, item.reach, -item.start.timestamp(), item.play_id)


def with_replays(items: list[AirItem]) -> list[AirItem]:
    """``items`` plus the replays the loudspeakers make: a stored bulletin under way when a
    higher priority starts plays again from its start when that one ends (if still allowed)."""
    out: list[AirItem] = []
    for cut in items:
        cutters = [
            p
            for p in items
            if p.priority.rank > cut.priority.rank and cut.start < p.start < cut.end
        ]
        if cut.stream or not cutters:
            out.append(cut)
            continue
        first = min(cutters, key=lambda p: p.start)
        out.append(replace(cut, duration_s=(first.start - cut.start).total_seconds()))
        back_at = first.end
        if cut.not_after is not None and back_at <= cut.not_after:
            out.append(replace(cut, start=back_at, replay_of=cut.play_id))
    return out


def on_air(items: list[AirItem], at: datetime) -> OnAir | None:
    """The play the channel carries at ``at`` (None: silence between plays)."""
    sounding = [i for i in items if i.covers(at)]
    if not sounding:
        return None
    best = max(sounding, key=_rank)
    return OnAir(best, (at - best.start).total_seconds())


def next_start(items: list[AirItem], after: datetime) -> datetime | None:
    """When the next play begins after ``after`` (for preparing its audio ahead)."""
    starts = [i.start for i in items if i.start > after]
    return min(starts) if starts else None


def cut_by_stops(
    items: Sequence[AirItem],
    targets_of: Mapping[str, Collection[str]],
    stops: Sequence[tuple[datetime, Collection[str]]],
) -> list[AirItem]:
    """A STOP silences what plays at its instant on the targets it names: an item on air
    then ends there when the stop names ``all`` or every target the item was sent to (a stop
    of one of its villages leaves the others, and the channel, playing it)."""
    in_order = sorted(((at, set(stopped)) for at, stopped in stops), key=lambda stop: stop[0])
    out = []
    for item in items:
        targets = set(targets_of.get(item.play_id, ()))
        for at, stopped in in_order:
            if item.covers(at) and ("all" in stopped or (targets and targets <= stopped)):
                item = replace(item, duration_s=(at - item.start).total_seconds())
                break
        out.append(item)
    return out
