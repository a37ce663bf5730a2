"""One read of what plans and firing need: schedules, fleet, media and pending one-offs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.models import Broadcast, Device, DeviceZone, Media, Schedule, SiteSetting
from ..domain.broadcast import BroadcastState
from ..streams.timeline import RelayTimeline
from .model import ScheduleSet, ScheduleSpec
from .planning import OneOff, Snapshot
from .targets import Fleet


def media_durations(session: Session) -> dict[str, int]:
    return dict(session.execute(select(Media.sha256, Media.duration_ms)).all())  # type: ignore[arg-type]


def media_refs(session: Session) -> dict[str, tuple[int, int]]:
    """sha256 → (size, duration_ms) of every stored media file, for plans."""
    return {
        sha: (size, duration)
        for sha, size, duration in session.execute(
            select(Media.sha256, Media.size, Media.duration_ms)
        )
    }


def fleet(session: Session) -> Fleet:
    """Zone → active devices."""
    zones: dict[str, set[str]] = {}
    rows = session.execute(
        select(DeviceZone.zone_id, DeviceZone.device_id)
        .join(Device, Device.id == DeviceZone.device_id)
        .where(Device.retired.is_(False))
    ).all()
    for zone_id, device_id in rows:
        zones.setdefault(zone_id, set()).add(device_id)
    return Fleet({z: frozenset(d) for z, d in zones.items()})


def stored_schedules(session: Session, default_timezone: str) -> ScheduleSet:
    """The stored schedule set (what ``export`` writes)."""
    settings = {row.key: row.value for row in session.scalars(select(SiteSetting))}
    specs = [
        ScheduleSpec.model_validate(row.spec)
        for row in session.scalars(select(Schedule).order_by(Schedule.name))
    ]
    return ScheduleSet(
        timezone=settings.get("timezone", default_timezone),
        quiet_hours=settings.get("quiet_hours", []),
        schedules=specs,
    )


def one_offs(session: Session, start: datetime, end: datetime) -> tuple[OneOff, ...]:
    """Released one-off broadcasts starting in [start, end) that have not played yet."""
    rows = session.scalars(
        select(Broadcast).where(
            Broadcast.schedule.is_(None),
            Broadcast.start_at >= start,
            Broadcast.start_at < end,
            Broadcast.state.in_(BroadcastState.awaiting_play_values()),
        )
    ).all()
    out = []
    for b in rows:
        # language versions by village: the devices that play each media, apart
        by_media: dict[str, set[str]] = {}
        for d in b.deliveries:
            by_media.setdefault(d.media_sha256 or b.media_sha256, set()).add(d.device_id)
        for media_sha256, devices in by_media.items():
            out.append(
                OneOff(
                    play_id=b.id,
                    title=b.title,
                    media_sha256=media_sha256,
                    start_at=b.start_at,
                    priority=b.priority,
                    devices=frozenset(devices),
                    volume=b.volume,
                )
            )
    return tuple(out)


def read_snapshot(
    session: Session,
    default_timezone: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    relay_timeline: RelayTimeline | None = None,
) -> Snapshot:
    """Everything in one session; one-off broadcasts only when a window is given."""
    devices = tuple(
        session.scalars(select(Device.id).where(Device.retired.is_(False)).order_by(Device.id))
    )
    return Snapshot(
        schedules=stored_schedules(session, default_timezone),
        fleet=fleet(session),
        media=media_refs(session),
        devices=devices,
        one_offs=one_offs(session, start, end) if start and end else (),
        relay_timeline=relay_timeline,
    )
