"""The technician's fleet page for a province: how long ``/fleet``, its table refresh and
``/api/devices`` take to answer with ``--devices`` clusters in the database.

A real controller over HTTP on PostgreSQL (a throw-away database) or SQLite, a real
Mosquitto, the devices written straight into the database with a last health report each
(control board, network), 20 zones, 5 % of them with an active alarm, 10 % offline, and a
week of fleet samples behind the online-ratio chart.

    .venv/bin/python bench/fleet_page.py [--devices 5000] [--db postgresql|sqlite]

Prints p50 and max over ``--runs`` requests per page and the size of each answer; the goal
is under 300 ms for a province's 5,000 devices.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.scratch import scratch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=5000)
    ap.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()

    from controller.db.models import Alarm, Device, DeviceZone, FleetSample, Zone
    from protocol.messages import (
        HardwareReadings,
        HealthReport,
        NetworkReadings,
        to_builtins,
        utcnow,
    )
    from tests.support import postgres
    from tests.support.mosquitto import Mosquitto
    from tests.support.stack import Stack

    tmp = scratch("loalang-fleetpage-")
    with contextlib.ExitStack() as cleanup:  # stopped in reverse: controller, database, broker
        broker = Mosquitto(tmp / "mosquitto").start()
        cleanup.callback(broker.stop)
        url = cleanup.enter_context(postgres.temp_database()) if args.db == "postgresql" else None
        stack = Stack(tmp, broker.port, database_url=url).start()
        cleanup.callback(stack.stop)
        services = stack.services
        assert services is not None
        now = utcnow()
        with services.sessions.begin() as session:
            zones = [f"thon-{z:02d}" for z in range(20)]
            session.add_all(Zone(id=z, name=f"Thôn {z}") for z in zones)
            for i in range(args.devices):
                d = f"loa-{i:05d}"
                health = HealthReport(
                    event_id=f"h{i}",
                    device_id=d,
                    ts=now,
                    version="0.1.0",
                    uptime_s=86400,
                    load_1m=0.3,
                    mem_total_mb=1024,
                    mem_available_mb=600,
                    disk_free_mb=9000,
                    outbox_pending=0,
                    volume=80,
                    hardware=HardwareReadings(
                        backend="mcu",
                        connected=True,
                        mains=True,
                        battery_v=12.6,
                        temperature_c=41.5,
                        amplifiers=[True, True],
                        line_ma=[410, 395],
                    ),
                    network=NetworkReadings(interface="wwan0", type="cellular", signal_dbm=-93),
                )
                session.add(
                    Device(
                        id=d,
                        name=f"Cụm loa {i}",
                        token_hash="-",
                        capabilities=[],
                        status="offline" if i % 10 == 0 else "online",
                        status_at=now,
                        last_seen_at=now,
                        last_health=to_builtins(health),
                        last_health_at=now,
                        latitude=21.0 + (i % 100) / 1000,
                        longitude=105.8 + (i // 100) / 1000,
                    )
                )
            session.flush()
            session.add_all(
                DeviceZone(device_id=f"loa-{i:05d}", zone_id=zones[i % 20])
                for i in range(args.devices)
            )
            session.add_all(
                Alarm(
                    device_id=f"loa-{i:05d}",
                    key="line:1",
                    code="line_dead",
                    channel=1,
                    raised_at=now,
                    detail="",
                    occurrences=1,
                )
                for i in range(0, args.devices, 20)
            )
            samples = 7 * 24 * 60 * 60 // services.settings.fleet_sample_s
            session.add_all(
                FleetSample(
                    ts=now - timedelta(seconds=k * services.settings.fleet_sample_s),
                    online=args.devices * 9 // 10,
                    total=args.devices,
                )
                for k in range(int(samples))
            )
        print(
            f"\nLoa Làng fleet page — {args.devices} devices, {args.db}, {args.runs} requests each"
        )
        for path in (
            "/ui/fleet",
            "/ui/fleet/table",
            "/ui/fleet?zone=thon-03",
            "/ui/fleet?state=offline",
            "/api/devices?limit=200",
            "/api/devices",
        ):
            times, size = [], 0
            for _ in range(args.runs + 1):
                t0 = time.perf_counter()
                r = stack.api.get(path)
                times.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, (path, r.status_code, r.text[:300])
                size = len(r.content)
            times = times[1:]  # the first warms the caches
            print(
                f"  {path:26s} p50 {statistics.median(times):7.0f} ms  "
                f"max {max(times):7.0f} ms  {size / 1024:8.0f} KiB"
            )


if __name__ == "__main__":
    main()
