"""What each loudspeaker plays over the next hours, as pure functions.

A ``Snapshot`` (schedules, fleet, media, pending one-off broadcasts, read once) becomes the
plays of a window: schedule occurrences turned into consecutive entries, and one-off
broadcasts scheduled ahead. Plan publishing turns them into one signed plan per device; central
firing turns the schedule occurrences into broadcasts. Both call ``planned_plays``, so both see
the same plays with the same play ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import msgspec

from protocol.messages import (
    MediaRef,
    PlanCommand,
    PlanEntry,
    Priority,
    StreamRef,
    one_line,
)

from ..streams.timeline import RelayTimeline
from .model import MediaItem, ProgrammeItem, ScheduleSet, TextItem
from .recurrence import Occurrence, expand_all
from .targets import Fleet


@dataclass(frozen=True)
class OneOff:
    """A one-off broadcast released and waiting for its start: it travels in the plans of the
    devices it reaches, so it plays even if their link is down when the central command flies."""

    play_id: str
    title: str
    media_sha256: str
    start_at: datetime
    priority: str
    devices: frozenset[str]
    volume: int | None = None


@dataclass(frozen=True)
class Snapshot:
    """Everything plans and firing are computed from, read in one go."""

    schedules: ScheduleSet
    fleet: Fleet
    media: Mapping[str, tuple[int, int]]  # sha256 → (size, duration_ms)
    devices: tuple[str, ...]  # active devices, each gets a plan (empty ones too)
    one_offs: tuple[OneOff, ...] = ()
    relay_timeline: RelayTimeline | None = None  # relays through the station's copy

    @property
    def durations(self) -> dict[str, int]:
        return {sha: ms for sha, (_, ms) in self.media.items()}


@dataclass(frozen=True)
class PlannedPlay:
    """One schedule occurrence (or one-off broadcast) and the entries it becomes.

    ``occurrence`` is None for a one-off; ``devices`` is then the exact set it reaches."""

    occurrence: Occurrence | None
    entries: list[PlanEntry]
    targets: tuple[str, ...] = ()
    devices: frozenset[str] = field(default_factory=frozenset)


def _media_ref(sha: str, media: Mapping[str, tuple[int, int]]) -> MediaRef:
    size, duration_ms = media[sha]
    return MediaRef(sha256=sha, url=f"/media/{sha}", size=size, duration_ms=duration_ms)


def programme_entries(
    occ: Occurrence,
    programme: list[ProgrammeItem],
    media: Mapping[str, tuple[int, int]],
    title: str,
    timeline: RelayTimeline | None = None,
) -> list[PlanEntry]:
    """A programme becomes consecutive entries; a single item keeps the occurrence's play id."""
    entries = []
    offset = timedelta(0)
    for i, item in enumerate(programme):
        play_id = occ.play_id if len(programme) == 1 else f"{occ.play_id}.{i + 1}"
        start = occ.start + offset
        priority = Priority(occ.priority)
        if isinstance(item, (MediaItem, TextItem)):
            if item.media is None or item.media not in media:
                continue  # refused by the schedule check, or a text not yet spoken
            ref = _media_ref(item.media, media)
            entries.append(
                PlanEntry(
                    play_id=play_id,
                    title=one_line(title),
                    start_at=start,
                    priority=priority,
                    media=ref,
                )
            )
            offset += timedelta(milliseconds=ref.duration_ms)
        else:
            fallback = item.fallback_media
            entries.append(
                PlanEntry(
                    play_id=play_id,
                    title=one_line(title),
                    start_at=start,
                    priority=priority,
                    stream=StreamRef(
                        url=item.relay,
                        duration_s=item.duration_s,
                        fallback_urls=list(item.fallback),
                        fallback_media=_media_ref(fallback, media)
                        if fallback is not None and fallback in media
                        else None,
                        station_url=timeline.url_for(play_id) if timeline else None,
                        delay_ms=timeline.delay_ms if timeline else None,
                    ),
                )
            )
            offset += timedelta(seconds=item.duration_s)
    return entries


def planned_plays(
    snapshot: Snapshot, start: datetime, end: datetime, *, one_offs: bool = True
) -> list[PlannedPlay]:
    """Every play starting in [start, end): schedule occurrences, then one-off broadcasts."""
    specs = {s.name: s for s in snapshot.schedules.schedules}
    plays = []
    for occ in expand_all(snapshot.schedules, start, end, snapshot.durations):
        spec = specs[occ.schedule]
        plays.append(
            PlannedPlay(
                occ,
                programme_entries(
                    occ, list(spec.programme), snapshot.media, spec.title, snapshot.relay_timeline
                ),
                targets=occ.targets,
            )
        )
    if one_offs:
        for b in snapshot.one_offs:
            if not start <= b.start_at < end or b.media_sha256 not in snapshot.media:
                continue
            entry = PlanEntry(
                play_id=b.play_id,
                title=one_line(b.title),
                start_at=b.start_at,
                priority=Priority(b.priority),
                volume=b.volume,
                media=_media_ref(b.media_sha256, snapshot.media),
            )
            plays.append(PlannedPlay(None, [entry], devices=b.devices))
    return plays


def reach(play: PlannedPlay, fleet: Fleet, devices: Iterable[str]) -> set[str]:
    """The devices (among ``devices``) a planned play concerns."""
    known = set(devices)
    if play.occurrence is None:
        return set(play.devices) & known
    targets = set().union(*(fleet.devices_of(t) for t in play.targets))
    return known if "*" in targets else targets & known


def build_plans(
    snapshot: Snapshot, window_start: datetime, window_end: datetime, max_late_s: int
) -> dict[str, PlanCommand]:
    """One plan per active device (empty plans included, so a device learns it was emptied)."""
    per_device: dict[str, list[PlanEntry]] = {d: [] for d in snapshot.devices}
    for play in planned_plays(snapshot, window_start, window_end):
        for device in reach(play, snapshot.fleet, per_device):
            per_device[device].extend(play.entries)
    plans = {}
    for device, entries in per_device.items():
        entries.sort(key=lambda e: (e.start_at, e.play_id))
        plans[device] = PlanCommand(
            version=plan_version(entries),
            window_start=window_start,
            window_end=window_end,
            max_late_s=max_late_s,
            entries=entries,
        )
    return plans


_sorted_json = msgspec.json.Encoder(order="sorted")


def plan_version(entries: list[PlanEntry]) -> str:
    """Content hash of the entries: a plan is republished only when what plays changes.
    (msgspec, sorted: a fifth of ``json.dumps``' time over 5,000 plans.)"""
    return hashlib.sha256(_sorted_json.encode(entries)).hexdigest()[:16]
