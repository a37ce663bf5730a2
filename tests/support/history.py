"""A month of a commune's history written straight into the database: villages, clusters,
bulletins with what each cluster did, outages and alarms. Seeded, so a test can recount the
rows it wrote and compare them with what a report says."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

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

VN = ZoneInfo("Asia/Ho_Chi_Minh")
VILLAGES = {"thon-dong": "Thôn Đông", "thon-doai": "Thôn Đoài", "ban-nam": "Bản Nậm"}
CLUSTERS = {  # device → its villages (loa-cho stands between two)
    "loa-dong-1": ["thon-dong"],
    "loa-dong-2": ["thon-dong"],
    "loa-doai-1": ["thon-doai"],
    "loa-cho": ["thon-dong", "thon-doai"],
    "loa-nam-1": ["ban-nam"],
    "loa-nam-2": ["ban-nam"],
}
OUTCOMES = ["played"] * 13 + ["fault", "interrupted", "failed", "missed", "cancelled"]
"""What a cluster did with a bulletin (``fault``: played with a dead speaker line)."""


@dataclass
class Written:
    """What was written, for the test to recount."""

    start: datetime
    end: datetime
    deliveries: list[tuple[str, str, str, int]] = field(default_factory=list)
    """(broadcast id, device, outcome, played ms) of the bulletins inside the month"""
    outside: int = 0  # deliveries of bulletins just outside the month
    offline: dict[str, list[tuple[datetime, datetime]]] = field(default_factory=dict)
    alarms: list[tuple[str, datetime, datetime | None]] = field(default_factory=list)


def write_month(
    sessions: sessionmaker[Session],
    year: int = 2026,
    month: int = 11,
    bulletins_a_day: int = 3,
    seed: int = 7,
) -> Written:
    rnd = random.Random(seed)
    start = datetime(year, month, 1, tzinfo=VN)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=VN)
    written = Written(start, end)
    registered = start - timedelta(days=40)
    with sessions.begin() as session:
        for zone_id, name in VILLAGES.items():
            session.add(Zone(id=zone_id, name=name, geocodes=[]))
        for device, zones in CLUSTERS.items():
            session.add(
                Device(
                    id=device,
                    name=f"Cụm {device}",
                    token_hash="-",
                    capabilities=[],
                    created_at=registered,
                    status="online",
                    status_at=registered,
                )
            )
            session.flush()
            for zone in zones:
                session.add(DeviceZone(device_id=device, zone_id=zone))
            session.add(DeviceStatusChange(device_id=device, status="online", at=registered))
        session.add(
            Media(
                sha256="a" * 64, title="Bản tin sáng", original_size=1, size=1, duration_ms=300_000
            )
        )
        session.flush()
        days = (end - start).days
        for day in [-1, *range(days), days]:  # one day either side: outside the period
            for k in range(bulletins_a_day):
                at = start + timedelta(days=day, hours=6 + 5 * k, minutes=rnd.randint(0, 20))
                bid = f"b-{day:+03d}-{k}"
                priority = "emergency" if rnd.random() < 0.05 else "normal"
                session.add(
                    Broadcast(
                        id=bid,
                        title=f"Bản tin {day + 1}/{k + 1}",
                        media_sha256="a" * 64,
                        priority=priority,
                        targets=["all"],
                        start_at=at,
                        send_at=at,
                        not_after=at + timedelta(minutes=10),
                        state="done",
                        sent_at=at - timedelta(minutes=5),
                    )
                )
                session.flush()
                for device in CLUSTERS:
                    what = rnd.choice(OUTCOMES)
                    played = {
                        "played": 300_000,
                        "fault": 300_000,
                        "interrupted": rnd.randint(1, 299) * 1000,
                    }.get(what, 0)
                    session.add(
                        Delivery(
                            broadcast_id=bid,
                            device_id=device,
                            state="played" if what == "fault" else what,
                            line_check={"dead_channels": [1]} if what == "fault" else None,
                            started_at=at if played else None,
                            ended_at=at + timedelta(milliseconds=played) if played else None,
                            played_ms=played or None,
                            reason="offline" if what == "missed" else None,
                        )
                    )
                    if start <= at < end:
                        written.deliveries.append((bid, device, what, played))
                    else:
                        written.outside += 1
        # a never-sent one in the month (held for approval): not in the report
        session.add(
            Broadcast(
                id="b-held",
                title="Chờ duyệt",
                media_sha256="a" * 64,
                targets=["all"],
                start_at=start + timedelta(days=3),
                send_at=start + timedelta(days=3),
                not_after=start + timedelta(days=3, minutes=10),
                state="pending_approval",
            )
        )
        # outages: some clusters go offline for hours, one across the month's end
        for device in CLUSTERS:
            spans = []
            for _ in range(rnd.randint(0, 4)):
                down = start + timedelta(days=rnd.randint(0, days - 2), hours=rnd.randint(0, 20))
                up = down + timedelta(hours=rnd.randint(1, 30))
                if spans and down <= spans[-1][1]:
                    continue
                spans.append((down, up))
            spans.sort()
            merged: list[tuple[datetime, datetime]] = []
            for down, up in spans:
                if merged and down <= merged[-1][1]:
                    merged[-1] = (merged[-1][0], max(up, merged[-1][1]))
                else:
                    merged.append((down, up))
            if device == "loa-nam-2":  # still down when the month ends
                merged.append((end - timedelta(hours=12), end + timedelta(days=2)))
            for down, up in merged:
                session.add(DeviceStatusChange(device_id=device, status="offline", at=down))
                session.add(DeviceStatusChange(device_id=device, status="online", at=up))
                session.add(
                    Alarm(
                        device_id=device,
                        key="device_offline",
                        code="device_offline",
                        raised_at=down + timedelta(minutes=10),
                        cleared_at=up if up < end else None,
                        detail="10 min",
                    )
                )
                written.alarms.append(
                    (device, down + timedelta(minutes=10), up if up < end else None)
                )
            written.offline[device] = merged
    return written
