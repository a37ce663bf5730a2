"""A province's month in the report: how long the station report, its CSV and PDF and one
export page take for ``--devices`` clusters in ``--villages`` villages with ``--bulletins``
a day to every cluster (a delivery row each), on PostgreSQL (a throw-away database) or SQLite.

    .venv/bin/python bench/reports.py [--devices 1000] [--villages 20] [--bulletins 3]
                                      [--db postgresql|sqlite]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.scratch import scratch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--villages", type=int, default=20)
    ap.add_argument("--bulletins", type=int, default=3, help="a day, to every cluster")
    ap.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    args = ap.parse_args()

    from sqlalchemy import insert

    from controller.db.models import (
        Alarm,
        Broadcast,
        Delivery,
        Device,
        DeviceStatusChange,
        DeviceZone,
        Media,
        Zone,
    )
    from controller.db.session import make_engine, make_sessionmaker, migrate
    from controller.reports.documents import CsvKind, csv_bytes, pdf_bytes
    from controller.services.reports import Reports
    from controller.settings import Settings
    from tests.support import postgres

    tmp = scratch("loalang-reports-")
    pg = postgres.temp_database() if args.db == "postgresql" else None
    url = pg.__enter__() if pg else f"sqlite:///{tmp / 'r.db'}"
    engine = make_engine(url)
    try:
        migrate(engine)
        sessions = make_sessionmaker(engine)
        vn = ZoneInfo("Asia/Ho_Chi_Minh")
        start, end = datetime(2026, 11, 1, tzinfo=vn), datetime(2026, 12, 1, tzinfo=vn)
        rnd = random.Random(1)
        ids = [f"loa-{i:05d}" for i in range(args.devices)]
        t0 = time.monotonic()
        with sessions.begin() as s:
            s.execute(
                insert(Zone),
                [dict(id=f"thon-{v}", name=f"Thôn {v}", geocodes=[]) for v in range(args.villages)],
            )
            s.execute(
                insert(Device),
                [
                    dict(
                        id=d,
                        name=d,
                        token_hash="-",
                        capabilities=[],
                        created_at=start - timedelta(days=60),
                    )
                    for d in ids
                ],
            )
            s.execute(
                insert(DeviceZone),
                [dict(device_id=d, zone_id=f"thon-{i % args.villages}") for i, d in enumerate(ids)],
            )
            s.execute(
                insert(DeviceStatusChange),
                [dict(device_id=d, status="online", at=start - timedelta(days=60)) for d in ids],
            )
            s.add(
                Media(
                    sha256="a" * 64, title="Bản tin", original_size=1, size=1, duration_ms=300_000
                )
            )
        deliveries = 0
        for day in range(30):
            with sessions.begin() as s:
                rows = []
                for k in range(args.bulletins):
                    at = start + timedelta(days=day, hours=6 + 5 * k)
                    bid = f"b-{day}-{k}"
                    s.add(
                        Broadcast(
                            id=bid,
                            title=f"Bản tin {day + 1}/{k + 1}",
                            media_sha256="a" * 64,
                            targets=["all"],
                            start_at=at,
                            send_at=at,
                            not_after=at + timedelta(minutes=10),
                            state="done",
                            sent_at=at,
                        )
                    )
                    for d in ids:
                        state = rnd.choice(("played",) * 9 + ("missed",))
                        rows.append(
                            dict(
                                broadcast_id=bid,
                                device_id=d,
                                state=state,
                                started_at=at if state == "played" else None,
                                played_ms=300_000 if state == "played" else None,
                            )
                        )
                s.flush()
                s.execute(insert(Delivery), rows)
                deliveries += len(rows)
                outages = rnd.sample(ids, max(1, args.devices // 50))
                s.execute(
                    insert(DeviceStatusChange),
                    [
                        dict(device_id=d, status=status, at=start + timedelta(days=day, hours=h))
                        for d in outages
                        for status, h in (("offline", 1), ("online", 3))
                    ],
                )
                s.execute(
                    insert(Alarm),
                    [
                        dict(
                            device_id=d,
                            key="device_offline",
                            code="device_offline",
                            raised_at=start + timedelta(days=day, hours=1, minutes=10),
                            cleared_at=start + timedelta(days=day, hours=3),
                            occurrences=1,
                            detail="",
                        )
                        for d in outages
                    ],
                )
        written = time.monotonic() - t0
        reports = Reports(sessions, Settings(data_dir=tmp))

        def timed(what, fn):  # type: ignore[no-untyped-def]
            began = time.monotonic()
            out = fn()
            took = time.monotonic() - began
            size = len(out) if isinstance(out, bytes) else 0
            print(f"  {what}: {took:.2f} s" + (f" ({size / 1e6:.1f} MB)" if size else ""))
            return out

        print(
            f"\nLoa Làng report benchmark — {args.db}, {args.devices} clusters in "
            f"{args.villages} villages, {args.bulletins} bulletins a day: {deliveries:,} "
            f"deliveries in the month (written in {written:.0f} s), {platform.machine()} "
            f"{os.cpu_count()} cores, {platform.python_implementation()} "
            f"{platform.python_version()}"
        )
        report = timed(
            "station report (query + figures)", lambda: reports.station(start, end, "11/2026")
        )
        timed("CSV, broadcast log", lambda: csv_bytes(report, CsvKind.log))
        timed("CSV, equipment", lambda: csv_bytes(report, CsvKind.equipment))
        timed("PDF", lambda: pdf_bytes(report))
        timed("export page of 100 bulletins", lambda: reports.export_bulletins(start, end, 0, 100))
        print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    finally:
        engine.dispose()
        if pg:
            pg.__exit__(None, None, None)


if __name__ == "__main__":
    main()
