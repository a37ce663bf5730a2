"""Emergency benchmark: the second person's confirmation → "playing" on N agents, with the
audio pushed to the devices while the emergency waited (a signed ``prepare``), next to the
broker's raw fan-out measured in the same run.

    .venv/bin/python bench/emergency.py               # 50 agents in separate processes
    .venv/bin/python bench/emergency.py --agents 500  # as many as the host allows

Real Mosquitto (started here on a free port), the real controller over HTTP, real agents with
file outputs in worker processes; nothing is seeded into the agents' caches. A normal bulletin
first (it also gives the controller the fleet's delivery times its emergency lead is taken
from), then an emergency: sent by one account, prepared on every device, confirmed by a
second. Then a CAP alert from a feed trusted to release on its own: POST → playing. Prints
figures; asserts nothing. Goal (issue 12): p99 ≤ 1.5 s at 50 agents, 0 bytes
downloaded on the critical path.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.scratch import scratch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fanout import _wait_done, pct, raw_baseline, start_agents, start_station, stop_station


def _all_ready(api, broadcast_id: str, n: int, timeout: float = 120) -> float:  # type: ignore[no-untyped-def]
    """Seconds until every delivery of a waiting emergency reports its media ready."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        b = api.get(f"/api/broadcasts/{broadcast_id}").json()
        if sum(d["state"] == "media_ready" for d in b["deliveries"]) >= n:
            return time.time() - t0
        time.sleep(0.2)
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument(
        "--per-process",
        type=int,
        default=10,
        help="agents per worker process (50 agents: 5 processes)",
    )
    parser.add_argument("--pings", type=int, default=20, help="raw broker pings")
    args = parser.parse_args()

    from controller.db.models import DeviceEvent
    from tests.support.audio import make_speech
    from tests.support.mosquitto import Mosquitto

    tmp = scratch("loalang-bench-emergency-")
    broker = Mosquitto(tmp / "mosquitto").start()
    n = args.agents
    groups = [list(range(i, min(n, i + args.per_process))) for i in range(0, n, args.per_process)]
    ctx = mp.get_context("spawn")

    # 1. the broker's raw publish → deliver to N plain subscribers, same processes layout
    raw_ms = raw_baseline(broker.port, groups, args.pings, ctx)

    # 2. controller + N agents with empty caches
    agent_root = scratch(
        "loalang-bench-agents-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None
    )
    feed_token = "bench-cap-feed-token-0123"
    services, server, api, configs = start_station(
        tmp,
        broker.port,
        n,
        agent_root,
        missed_grace_s=5,
        cap_feeds={"bench": {"token": feed_token, "policy": "auto"}},
    )
    settings = services.settings
    procs, stop = start_agents(configs, groups, ctx)
    deadline = time.time() + 300
    while (
        sum(d["status"] == "online" for d in api.get("/api/devices").json()) < n
        and time.time() < deadline
    ):
        time.sleep(1)

    def upload(text: str, name: str) -> dict:
        path = make_speech(tmp / f"{name}.wav", text)
        return api.post("/api/media", files={"file": (path.name, path.read_bytes())}).json()

    # a normal bulletin first: the fleet's delivery times, measured
    normal = upload("Kính thưa bà con, đây là bản tin thường.", "normal")
    warm = api.post(
        "/api/broadcasts", json={"media_sha256": normal["sha256"], "targets": ["zone:all-villages"]}
    ).json()
    _wait_done(api, warm["id"], n)
    lead = services.broadcast_times.emergency_lead().total_seconds()

    # the emergency: one person sends, it is prepared everywhere, a second person confirms
    siren = upload(
        "Thông báo khẩn cấp: bão số chín sắp đổ bộ, bà con khẩn trương sơ tán.", "emergency"
    )
    api.post(
        "/api/users",
        json={"username": "truc-ban", "password": "bench-password-1", "roles": ["approver"]},
    ).raise_for_status()
    second = api.post("/api/users/truc-ban/tokens", json={}).json()["token"]
    b = api.post(
        "/api/broadcasts",
        json={
            "media_sha256": siren["sha256"],
            "targets": ["zone:all-villages"],
            "priority": "emergency",
        },
    ).json()
    prepared_s = _all_ready(api, b["id"], n)
    confirmed = time.time()
    api.post(
        f"/api/broadcasts/{b['id']}/confirm", headers={"Authorization": f"Bearer {second}"}
    ).raise_for_status()
    final = _wait_done(api, b["id"], n)
    services.ingest.wait_idle(30)
    with services.sessions() as session:
        started = (
            session.query(DeviceEvent).filter_by(type="playback.started", play_id=b["id"]).all()
        )
        ready_events = (
            session.query(DeviceEvent).filter_by(type="media.ready", play_id=b["id"]).all()
        )
    playing = [
        (datetime.fromisoformat(e.payload["actual_start"]).timestamp() - confirmed) * 1000
        for e in started
    ]
    stored = [(e.received_at.timestamp() - confirmed) * 1000 for e in started]  # per device
    ingest_lag = [x * 1000 for x in services.ingest.lag_s]
    after = [e for e in ready_events if e.ts.timestamp() >= confirmed]
    before = [e for e in ready_events if e.ts.timestamp() < confirmed]
    critical_bytes = sum(e.payload.get("fetched_bytes", 0) for e in after)
    starts = [datetime.fromisoformat(e.payload["actual_start"]).timestamp() for e in started]
    played = final["summary"].get("played", 0)

    # a CAP alert from a feed trusted to release (policy auto): POST → playing, spoken on arrival
    api.patch("/api/zones/all-villages", json={"geocodes": ["xa=VN-XA-0001"]}).raise_for_status()
    from tests.support.cap import cap_alert

    posted = time.time()
    answer = api.post(
        "/api/cap",
        content=cap_alert("BENCH-1", expires=None),
        headers={"Authorization": f"Bearer {feed_token}", "Content-Type": "application/cap+xml"},
    ).json()
    answered_s = time.time() - posted
    # nothing pinned here: the spoken alert alone, made after the answer (bench/storm.py
    # measures an alert that sounds a pinned message at once)
    alert_id = answer["alert_id"]
    while answer.get("speech") == "pending":
        time.sleep(0.1)
        answer = next(a for a in api.get("/api/cap").json() if a["id"] == alert_id)
    cap_final = _wait_done(api, answer["broadcast_id"], n)
    services.ingest.wait_idle(30)
    with services.sessions() as session:
        cap_started = (
            session.query(DeviceEvent)
            .filter_by(type="playback.started", play_id=answer["broadcast_id"])
            .all()
        )
    cap_playing = [
        (datetime.fromisoformat(e.payload["actual_start"]).timestamp() - posted) * 1000
        for e in cap_started
    ]
    stop_station(procs, stop, server, services)
    broker.stop()

    print(
        f"\nLoa Làng emergency benchmark — {n} agents in {len(groups)} processes, Mosquitto, "
        f"{platform.machine()} {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}"
    )
    print(
        f"  broker raw publish→deliver      p50 {pct(raw_ms, 50):7.1f} ms  "
        f"p99 {pct(raw_ms, 99):7.1f} ms  (n={len(raw_ms)})"
    )
    print(
        f"  prepared on every device in     {prepared_s:7.2f} s   (while it waited; "
        f"{sum(e.payload.get('fetched_bytes', 0) for e in before)} bytes fetched)"
    )
    print(
        f"  emergency lead (from the fleet) {lead * 1000:7.0f} ms  "
        f"(a normal bulletin: {settings.sync_lead_s * 1000:.0f} ms)"
    )
    print(
        f"  confirmation→playing (device)   p50 {pct(playing, 50):7.1f} ms  "
        f"p99 {pct(playing, 99):7.1f} ms  max {max(playing or [0]):.1f} ms  (goal p99 ≤ 1500)"
    )
    print(
        f"  confirmation→'playing' received p50 {pct(stored, 50):7.1f} ms  "
        f"p99 {pct(stored, 99):7.1f} ms  (each device's report as it reached the controller; "
        f"stored after it: ingest lag p99 {pct(ingest_lag, 99):.1f} ms)"
    )
    skew = (max(starts) - min(starts)) * 1000 if starts else 0.0
    print(f"  start skew (max−min)            {skew:7.1f} ms")
    print(
        f"  bytes downloaded on the critical path: {critical_bytes} "
        f"({len(after)} media.ready after confirmation; goal 0)"
    )
    print(f"  played {played}/{n}")
    print(
        f"  CAP alert POST answered in       {answered_s * 1000:7.0f} ms  (checked, spoken, "
        f"stored, released: {answer['action']})"
    )
    print(
        f"  CAP POST→playing (device)        p50 {pct(cap_playing, 50):7.1f} ms  "
        f"p99 {pct(cap_playing, 99):7.1f} ms  (no prepare: downloaded on release; played "
        f"{cap_final['summary'].get('played', 0)}/{n})"
    )


if __name__ == "__main__":
    main()
