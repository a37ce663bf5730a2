"""Plan computation benchmark: materialise 48 h of plans for N devices (default 5000).

    .venv/bin/python bench/plans.py [--devices 5000] [--zones 100]

Realistic schedules for a province: two daily sessions for everyone (opening media + relay),
a weekly bulletin per zone, a daily evening bulletin for every tenth zone and an hourly
weather slot in five mountain zones. Prints seconds and plans per second for expansion, plan
building and signing, the steps the controller runs every time something changes.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controller.keys import public_of
from controller.schedules.model import ScheduleSet
from controller.schedules.planning import Snapshot, build_plans
from controller.schedules.recurrence import expand_all
from controller.schedules.targets import Fleet
from protocol.envelope import sign
from protocol.messages import CommandPayload


def make_set(zones: int) -> tuple[ScheduleSet, dict[str, tuple[int, int]]]:
    media = {f"{i:064x}": (300_000, 5 * 60_000) for i in range(1, zones + 10)}
    shas = list(media)
    schedules = [
        {
            "name": "buoi-sang",
            "targets": ["all"],
            "start": "05:30",
            "rrule": "FREQ=DAILY",
            "programme": [
                {"media": shas[0]},
                {"relay": "http://vov.example/1", "duration_s": 1800},
            ],
        },
        {
            "name": "buoi-chieu",
            "targets": ["all"],
            "start": "17:00",
            "rrule": "FREQ=DAILY",
            "programme": [
                {"media": shas[1]},
                {"relay": "http://tinh.example/1", "duration_s": 1500},
            ],
        },
    ]
    for z in range(zones):
        schedules.append(
            {
                "name": f"tuan-{z}",
                "targets": [f"zone:z{z}"],
                "start": "18:15",
                "rrule": f"FREQ=WEEKLY;BYDAY={['MO', 'TU', 'WE', 'TH', 'FR'][z % 5]}",
                "programme": [{"media": shas[2 + z]}],
            }
        )
        if z % 10 == 0:
            schedules.append(
                {
                    "name": f"toi-{z}",
                    "targets": [f"zone:z{z}"],
                    "start": "19:30",
                    "rrule": "FREQ=DAILY",
                    "programme": [{"media": shas[2 + z]}],
                }
            )
        if z < 5:
            schedules.append(
                {
                    "name": f"thoi-tiet-{z}",
                    "targets": [f"zone:z{z}"],
                    "start": "06:00",
                    "rrule": "FREQ=HOURLY;INTERVAL=3;BYHOUR=6,9,12,15",
                    "valid_from": "2026-01-01",
                    "priority": "priority",
                    "programme": [{"media": shas[3]}],
                }
            )
    return ScheduleSet.model_validate({"schedules": schedules}), media


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=5000)
    parser.add_argument("--zones", type=int, default=100)
    args = parser.parse_args()
    schedule_set, media = make_set(args.zones)
    per_zone = args.devices // args.zones
    fleet = Fleet(
        {f"z{z}": frozenset(f"d{z}-{i}" for i in range(per_zone)) for z in range(args.zones)}
    )
    devices = sorted(fleet.devices)
    now = datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)
    end = now + timedelta(hours=48)
    durations = {sha: ms for sha, (_, ms) in media.items()}

    t0 = time.perf_counter()
    occurrences = expand_all(schedule_set, now, end, durations)
    t1 = time.perf_counter()
    snapshot = Snapshot(schedules=schedule_set, fleet=fleet, media=media, devices=tuple(devices))
    plans = build_plans(snapshot, now, end, 120)
    t2 = time.perf_counter()
    key = Ed25519PrivateKey.generate()
    kid = public_of(key).kid
    total_bytes = 0
    for seq, (device, plan) in enumerate(plans.items(), start=1):
        payload = CommandPayload(
            kid=kid,
            cmd_id=f"c{seq}",
            target=f"device:{device}",
            issued_at=now,
            not_after=end,
            seq=seq,
            body=plan,
        )
        total_bytes += len(sign(payload, key))
    t3 = time.perf_counter()

    entries = sum(len(p.entries) for p in plans.values())
    n = len(plans)
    print(
        f"Loa Làng plan benchmark — {n} devices, {args.zones} zones, "
        f"{len(schedule_set.schedules)} schedules, 48 h window ({date.today()})"
    )
    print(f"  occurrences expanded   {len(occurrences):7d} in {t1 - t0:6.3f} s")
    print(
        f"  plans built            {n:7d} in {t2 - t1:6.3f} s  ({n / (t2 - t1):8.0f} plans/s, "
        f"{entries} entries, {entries / n:.1f} per device)"
    )
    print(
        f"  plans signed           {n:7d} in {t3 - t2:6.3f} s  ({n / (t3 - t2):8.0f} plans/s, "
        f"{total_bytes / n / 1024:.1f} KiB per signed plan)"
    )
    print(f"  total                  {t3 - t0:6.3f} s  ({n / (t3 - t0):8.0f} plans/s)")


if __name__ == "__main__":
    main()
