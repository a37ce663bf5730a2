"""The fleet's online ratio: samples counted from the devices table, averaged for the plot."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from controller.db.models import Device, DeviceTelemetry, FleetSample
from controller.db.session import make_engine, make_sessionmaker, migrate
from controller.fleet import history

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)


def _empty(made: sessionmaker[Session]) -> None:
    with made.begin() as session:
        for model in (FleetSample, DeviceTelemetry, Device):
            session.query(model).delete()


@pytest.fixture
def sessions(tmp_path, database_url) -> Iterator[sessionmaker[Session]]:
    """A migrated database (SQLite and PostgreSQL) with no devices, samples or readings,
    emptied again afterwards."""
    engine = make_engine(database_url or f"sqlite:///{tmp_path / 'f.db'}")
    migrate(engine)
    made = make_sessionmaker(engine)
    _empty(made)
    yield made
    _empty(made)
    engine.dispose()


def test_a_sample_counts_devices_in_service_and_old_samples_are_dropped(sessions):
    with sessions.begin() as session:
        for i, (status, retired) in enumerate(
            [
                ("online", False),
                ("online", False),
                ("offline", False),
                ("unknown", False),
                ("online", True),
            ]
        ):
            session.add(
                Device(
                    id=f"d{i}",
                    name=f"D{i}",
                    token_hash="x",
                    capabilities=[],
                    status=status,
                    retired=retired,
                )
            )
    history.record(sessions, T0 - timedelta(days=100))
    history.record(sessions, T0)
    rows = history.samples(sessions, T0 - timedelta(days=365))
    assert rows == [(T0, 2, 4)]  # the retired one is not counted; the 100-day-old one is gone
    assert history.ratio_points(rows) == [(T0, 50.0)]


def test_ratio_points_average_into_buckets_and_skip_an_empty_fleet():
    week = [(T0 + timedelta(minutes=m), 10 if m % 2 else 0, 10) for m in range(7 * 24 * 60)]
    points = history.ratio_points(week, max_points=100)
    assert len(points) == 100
    assert all(45 <= v <= 55 for _, v in points)  # half online on average, in every bucket
    assert [p[0] for p in points] == sorted(p[0] for p in points)
    assert history.ratio_points([(T0, 0, 0), (T0 + timedelta(minutes=1), 3, 4)]) == [
        (T0 + timedelta(minutes=1), 75.0)
    ]


def test_old_health_readings_are_pruned_in_batches(sessions):
    with sessions.begin() as session:
        session.add(Device(id="d1", name="D1", token_hash="x", capabilities=[]))
        session.flush()
        for h in range(50):  # one reading an hour, going back 50 hours
            session.add(
                DeviceTelemetry(event_id=f"e{h}", device_id="d1", ts=T0 - timedelta(hours=h))
            )
    gone = history.prune_telemetry(sessions, timedelta(days=1), now=T0, batch=7)
    assert gone == 25  # hours 25..49
    with sessions() as session:
        left = sorted(session.scalars(select(DeviceTelemetry.ts)))
    assert len(left) == 25
    assert min(left) >= T0 - timedelta(hours=24)


def test_readings_older_than_two_days_are_thinned_to_one_an_hour_per_device(sessions):
    with sessions.begin() as session:
        for d in ("d1", "d2"):
            session.add(Device(id=d, name=d, token_hash="x", capabilities=[]))
        session.flush()
        for d in ("d1", "d2"):
            for m in range(0, 4 * 24 * 60, 10):  # one reading every 10 minutes for 4 days
                session.add(
                    DeviceTelemetry(event_id=f"{d}-{m}", device_id=d, ts=T0 - timedelta(minutes=m))
                )
    keep_full = timedelta(days=2)
    gone = history.downsample_telemetry(
        sessions, keep_full, every=timedelta(hours=1), now=T0, batch=50
    )
    with sessions() as session:
        rows = list(session.execute(select(DeviceTelemetry.device_id, DeviceTelemetry.ts)))
    for d in ("d1", "d2"):
        recent = [ts for dev, ts in rows if dev == d and ts >= T0 - keep_full]
        old = sorted(ts for dev, ts in rows if dev == d and ts < T0 - keep_full)
        assert len(recent) == 2 * 24 * 6 + 1  # the last two days untouched, every 10 min
        # older: one an hour (48 hours), each hour's first reading
        assert len(old) == 48
        assert len({ts.replace(minute=0, second=0, microsecond=0) for ts in old}) == 48
        originals = [
            T0 - timedelta(minutes=m)
            for m in range(0, 4 * 24 * 60, 10)
            if T0 - timedelta(minutes=m) < T0 - keep_full
        ]
        first = {}
        for ts in sorted(originals):
            first.setdefault(ts.replace(minute=0), ts)
        assert [
            ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts for ts in old
        ] == sorted(first.values())
    assert gone == 2 * (4 * 24 * 6 - (2 * 24 * 6 + 1) - 48)
    # run again: nothing more to thin
    assert history.downsample_telemetry(sessions, keep_full, every=timedelta(hours=1), now=T0) == 0
