"""The fleet's online ratio over time: a sample every few minutes, averaged into plot points.

``record`` is the periodic job (I/O); ``ratio_points`` is pure, so the averaging is easy to test.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import utcnow

from ..db.models import Device, DeviceTelemetry, FleetSample

KEEP = timedelta(days=90)


def record(sessions: sessionmaker[Session], now: datetime | None = None) -> FleetSample:
    """Count the devices in service and those online now; drop samples older than ``KEEP``."""
    now = now or utcnow()
    with sessions.begin() as session:
        rows = dict(session.execute(
            select(Device.status, func.count()).where(Device.retired.is_(False))
            .group_by(Device.status)).all())
        sample = FleetSample(ts=now, online=rows.get("online", 0), total=sum(rows.values()))
        session.merge(sample)
        session.execute(delete(FleetSample).where(FleetSample.ts < now - KEEP))
    return sample


def prune_telemetry(sessions: sessionmaker[Session], keep: timedelta,
                    now: datetime | None = None, batch: int = 10_000) -> int:
    """Drop health readings older than ``keep`` (a fleet writes one per device a minute: they
    were never pruned), a batch at a time so ingest is not held up. Returns how many went."""
    cutoff = (now or utcnow()) - keep
    gone = 0
    while True:
        with sessions.begin() as session:
            ids = list(session.scalars(select(DeviceTelemetry.id).where(
                DeviceTelemetry.ts < cutoff).limit(batch)))
            if ids:
                session.execute(delete(DeviceTelemetry).where(DeviceTelemetry.id.in_(ids)))
        gone += len(ids)
        if len(ids) < batch:
            return gone


def samples(sessions: sessionmaker[Session], since: datetime) -> list[tuple[datetime, int, int]]:
    with sessions() as session:
        return [tuple(r) for r in session.execute(  # type: ignore[misc]
            select(FleetSample.ts, FleetSample.online, FleetSample.total)
            .where(FleetSample.ts >= since).order_by(FleetSample.ts))]


def ratio_points(rows: list[tuple[datetime, int, int]], max_points: int = 240
                 ) -> list[tuple[datetime, float]]:
    """Online percentage per sample, averaged in equal time buckets to at most ``max_points``
    (a week of 1-minute samples still draws as a light SVG). Samples of an empty fleet are
    skipped: 0 of 0 is not an outage."""
    points = [(ts, 100.0 * online / total) for ts, online, total in rows if total]
    if len(points) <= max_points:
        return points
    t0, t1 = points[0][0].timestamp(), points[-1][0].timestamp()
    width = (t1 - t0) / max_points or 1.0
    buckets: dict[int, list[tuple[datetime, float]]] = {}
    for ts, value in points:
        buckets.setdefault(min(int((ts.timestamp() - t0) / width), max_points - 1),
                           []).append((ts, value))
    return [(group[len(group) // 2][0], sum(v for _, v in group) / len(group))
            for _, group in sorted(buckets.items())]
