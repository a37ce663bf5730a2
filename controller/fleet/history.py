"""The fleet's online ratio over time: a sample every few minutes, averaged into plot points;
and the leading controller's own beat, so the report knows when no one was watching.

``record`` is the periodic job (I/O); ``ratio_points`` is pure, so the averaging is easy to test.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import utcnow

from ..db.models import ControllerRun, Device, DeviceTelemetry, FleetSample

KEEP = timedelta(days=90)
_UTC = timezone.utc


def record(sessions: sessionmaker[Session], now: datetime | None = None) -> FleetSample:
    """Count the devices in service and those online now; drop samples older than ``KEEP``."""
    now = now or utcnow()
    with sessions.begin() as session:
        rows = dict(
            session.execute(
                select(Device.status, func.count())
                .where(Device.retired.is_(False))
                .group_by(Device.status)
            ).all()
        )
        sample = FleetSample(ts=now, online=rows.get("online", 0), total=sum(rows.values()))
        session.merge(sample)
        session.execute(delete(FleetSample).where(FleetSample.ts < now - KEEP))
    return sample


BEAT_S = 15.0
"""How often the leader writes that it is alive: its downtime is known to within this."""


class ControllerBeat:
    """The leader's run on record: ``start`` when it takes the lead opens a row, each
    ``beat`` moves its ``alive_at`` to now (one small UPDATE every ``BEAT_S``)."""

    def __init__(self, sessions: sessionmaker[Session], controller_id: str):
        self._sessions = sessions
        self._controller_id = controller_id
        self._run_id: int | None = None

    def start(self, now: datetime | None = None) -> None:
        now = now or utcnow()
        with self._sessions.begin() as session:
            run = ControllerRun(controller_id=self._controller_id, started_at=now, alive_at=now)
            session.add(run)
            session.flush()
            self._run_id = run.id

    def beat(self, now: datetime | None = None) -> None:
        if self._run_id is None:
            self.start(now)
            return
        with self._sessions.begin() as session:
            run = session.get(ControllerRun, self._run_id)
            if run is not None:
                run.alive_at = now or utcnow()


def prune_telemetry(
    sessions: sessionmaker[Session],
    keep: timedelta,
    now: datetime | None = None,
    batch: int = 10_000,
) -> int:
    """Drop health readings older than ``keep`` (a fleet writes one per device a minute: they
    were never pruned), a batch at a time so ingest is not held up. Returns how many went."""
    cutoff = (now or utcnow()) - keep
    gone = 0
    while True:
        with sessions.begin() as session:
            ids = list(
                session.scalars(
                    select(DeviceTelemetry.id).where(DeviceTelemetry.ts < cutoff).limit(batch)
                )
            )
            if ids:
                session.execute(delete(DeviceTelemetry).where(DeviceTelemetry.id.in_(ids)))
        gone += len(ids)
        if len(ids) < batch:
            return gone


def downsample_telemetry(
    sessions: sessionmaker[Session],
    keep_full: timedelta,
    every: timedelta = timedelta(hours=1),
    now: datetime | None = None,
    batch: int = 10_000,
) -> int:
    """Thin health readings older than ``keep_full`` to the first of each ``every`` per
    device (a fleet's minute-by-minute readings become hourly ones: a month of 5,000
    devices is 3.6 million rows, not 216 million). Returns how many went. Idempotent."""
    cutoff = (now or utcnow()) - keep_full
    step = every.total_seconds()
    gone, after_id = 0, 0
    while True:
        with sessions.begin() as session:
            rows = list(
                session.execute(
                    select(DeviceTelemetry.id, DeviceTelemetry.device_id, DeviceTelemetry.ts)
                    .where(DeviceTelemetry.ts < cutoff, DeviceTelemetry.id > after_id)
                    .order_by(DeviceTelemetry.id)
                    .limit(batch)
                )
            )
            if not rows:
                return gone
            after_id = rows[-1].id
            buckets = {(r.device_id, int(r.ts.timestamp() // step)) for r in rows}
            devices = {d for d, _ in buckets}
            lo = min(r.ts for r in rows).timestamp() // step * step
            hi = (max(r.ts for r in rows).timestamp() // step + 1) * step
            # the first reading of each bucket, wherever in the table it is (times come back
            # as aware UTC: UtcDateTime)
            keep: dict[tuple[str, int], tuple[datetime, int]] = {}
            for rid, device_id, ts in session.execute(
                select(DeviceTelemetry.id, DeviceTelemetry.device_id, DeviceTelemetry.ts).where(
                    DeviceTelemetry.device_id.in_(devices),
                    DeviceTelemetry.ts >= datetime.fromtimestamp(lo, _UTC),
                    DeviceTelemetry.ts < min(cutoff, datetime.fromtimestamp(hi, _UTC)),
                )
            ):
                key = (device_id, int(ts.timestamp() // step))
                if key in buckets and (key not in keep or (ts, rid) < keep[key]):
                    keep[key] = (ts, rid)
            kept = {rid for _, rid in keep.values()}
            doomed = [r.id for r in rows if r.id not in kept]
            if doomed:
                session.execute(delete(DeviceTelemetry).where(DeviceTelemetry.id.in_(doomed)))
            gone += len(doomed)


def samples(sessions: sessionmaker[Session], since: datetime) -> list[tuple[datetime, int, int]]:
    with sessions() as session:
        return [
            tuple(r)
            for r in session.execute(  # type: ignore[misc]
                select(FleetSample.ts, FleetSample.online, FleetSample.total)
                .where(FleetSample.ts >= since)
                .order_by(FleetSample.ts)
            )
        ]


def ratio_points(
    rows: list[tuple[datetime, int, int]], max_points: int = 240
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
        buckets.setdefault(min(int((ts.timestamp() - t0) / width), max_points - 1), []).append(
            (ts, value)
        )
    return [
        (group[len(group) // 2][0], sum(v for _, v in group) / len(group))
        for _, group in sorted(buckets.items())
    ]
