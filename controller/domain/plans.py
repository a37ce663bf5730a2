"""Per-device plans: which plays reach each loudspeaker over the next hours. Pure logic."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from protocol.messages import MediaRef, PlanCommand, PlanEntry, Priority, StreamRef

from .schedules import Fleet, MediaItem, Occurrence, ScheduleSet


def _entries_for(occ: Occurrence, programme: list, media: Mapping[str, tuple[int, int]],
                 title: str) -> list[PlanEntry]:
    """A programme becomes consecutive entries; a single item keeps the occurrence's play id."""
    entries = []
    offset = timedelta(0)
    for i, item in enumerate(programme):
        play_id = occ.play_id if len(programme) == 1 else f"{occ.play_id}.{i + 1}"
        start = occ.start + offset
        if isinstance(item, MediaItem):
            if item.media not in media:
                continue  # refused by the schedule check; never planned
            size, duration_ms = media[item.media]
            entries.append(PlanEntry(
                play_id=play_id, title=title, start_at=start, priority=Priority(occ.priority),
                media=MediaRef(sha256=item.media, url=f"/media/{item.media}", size=size,
                               duration_ms=duration_ms)))
            offset += timedelta(milliseconds=duration_ms)
        else:
            entries.append(PlanEntry(
                play_id=play_id, title=title, start_at=start, priority=Priority(occ.priority),
                stream=StreamRef(url=item.relay, duration_s=item.duration_s,
                                 fallback_urls=list(item.fallback))))
            offset += timedelta(seconds=item.duration_s)
    return entries


def occurrence_entries(schedules: ScheduleSet, occurrences: Iterable[Occurrence],
                       media: Mapping[str, tuple[int, int]]
                       ) -> list[tuple[Occurrence, list[PlanEntry]]]:
    """Each occurrence with the plan entries its programme becomes."""
    specs = {s.name: s for s in schedules.schedules}
    return [(occ, _entries_for(occ, list(specs[occ.schedule].programme), media,
                               specs[occ.schedule].title)) for occ in occurrences]


def build_plans(schedules: ScheduleSet, occurrences: Iterable[Occurrence], fleet: Fleet,
                devices: Iterable[str], media: Mapping[str, tuple[int, int]],
                window_start: datetime, window_end: datetime, max_late_s: int
                ) -> dict[str, PlanCommand]:
    """One plan per device (empty plans included, so a device learns its plan was emptied)."""
    per_device: dict[str, list[PlanEntry]] = {d: [] for d in devices}
    for occ, entries in occurrence_entries(schedules, occurrences, media):
        reach = set().union(*(fleet.devices_of(t) for t in occ.targets))
        targets = per_device.keys() if "*" in reach else reach & per_device.keys()
        for device in targets:
            per_device[device].extend(entries)
    plans = {}
    for device, entries in per_device.items():
        entries.sort(key=lambda e: (e.start_at, e.play_id))
        plans[device] = PlanCommand(version=plan_version(entries), window_start=window_start,
                                    window_end=window_end, max_late_s=max_late_s,
                                    entries=entries)
    return plans


def plan_version(entries: list[PlanEntry]) -> str:
    """Content hash of the entries: a plan is republished only when what plays changes."""
    data = json.dumps([e.model_dump(mode="json") for e in entries], sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()[:16]
