"""Loudspeakers in step on paced sound devices: skew measured from the audio that came out.

    .venv/bin/python bench/sync.py                 # 10 agents, 5 bulletins
    .venv/bin/python bench/sync.py --agents 30 --runs 10

Real Mosquitto, the real controller over HTTP, real agents in worker processes with the ALSA
output (outputs/alsa.py) on PulseAudio null sinks: one *room* sink with a channel per
loudspeaker, recorded back on one sample clock (tests/support/sound_room.py). For each
bulletin it prints the spread between loudspeakers (first loud sample, from the recording)
and how far each agent's reported ``actual_start`` is from the start the recording shows.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import platform
import struct
import sys
import time
import wave
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fanout import _wait_done, pct, start_agents, start_station, stop_station

from bench.scratch import scratch

RATE = 48000


def click_track(
    path: Path, seconds: float = 4, every_s: float = 1.0, first_s: float = 0.0, ms: int = 30
) -> Path:
    """A 1 kHz burst of ``ms`` every ``every_s`` from ``first_s``: sharp onsets that survive
    Opus (also the fake microphone of bench/live_latency.py)."""
    frames = bytearray(int(seconds * RATE) * 2)
    at = first_s
    while at + ms / 1000 <= seconds:
        start = int(at * RATE)
        for k in range(RATE * ms // 1000):
            v = int(20000 * math.sin(2 * math.pi * 1000 * k / RATE))
            struct.pack_into("<h", frames, (start + k) * 2, v)
        at += every_s
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(bytes(frames))
    return path


def first_loud(pcm: bytes, fraction: float = 0.3) -> tuple[int, int]:
    """(index of the first sample above ``fraction`` of the peak, that threshold)."""
    import numpy as np

    a = np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int32))
    threshold = int(a.max() * fraction)
    return int(np.nonzero(a > threshold)[0][0]), threshold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=10, help="loudspeakers (at most 32)")
    parser.add_argument("--runs", type=int, default=5, help="bulletins, one after another")
    parser.add_argument("--lead", type=float, default=3.0, help="start_at after sending (s)")
    parser.add_argument("--per-process", type=int, default=5, help="agents per worker process")
    args = parser.parse_args()

    from controller.db.models import DeviceEvent
    from tests.support.mosquitto import Mosquitto
    from tests.support.sound_room import SoundRoom

    n = args.agents
    tmp = scratch("loalang-sync-")
    broker = Mosquitto(tmp / "mosquitto").start()
    room = SoundRoom(n, tmp / "room").start()
    os.environ.update(room.env)  # the agents' worker processes reach the room's server
    agent_root = scratch("loalang-sync-agents-")
    services, server, api, configs = start_station(
        tmp, broker.port, n, agent_root, sync_lead_s=args.lead, missed_grace_s=5
    )
    for i, data in enumerate(configs):
        data["output"] = {"backend": "alsa", "device": room.device(i)}
    groups = [list(range(i, min(n, i + args.per_process))) for i in range(0, n, args.per_process)]
    procs, stop = start_agents(configs, groups, mp.get_context("spawn"))
    deadline = time.time() + 120
    while time.time() < deadline:
        if sum(d["status"] == "online" for d in api.get("/api/devices").json()) == n:
            break
        time.sleep(0.5)
    room.record()
    media = api.post(
        "/api/media", files={"file": ("clicks.wav", click_track(tmp / "clicks.wav").read_bytes())}
    ).json()

    spreads: list[float] = []
    report_err: list[float] = []
    start_err: list[float] = []
    for run in range(args.runs):
        start = datetime.now().astimezone() + timedelta(seconds=args.lead)
        b = api.post(
            "/api/broadcasts",
            json={
                "media_sha256": media["sha256"],
                "targets": ["zone:all-villages"],
                "start_at": start.isoformat(),
                "title": f"sync {run}",
            },
        ).json()
        final = _wait_done(api, b["id"], n, timeout=120)
        time.sleep(0.5)
        services.ingest.wait_idle(30)
        start_at = datetime.fromisoformat(final["start_at"]).timestamp()
        pcm = (agent_root / "loa-0000" / "cache" / f"{media['sha256']}.pcm").read_bytes()
        offset, threshold = first_loud(pcm)  # where the first click is in the bulletin
        onsets = room.onsets(start_at - 1.0, threshold=threshold)
        with services.sessions() as session:
            started = {
                e.device_id: datetime.fromisoformat(e.payload["actual_start"]).timestamp()
                for e in session.query(DeviceEvent).filter_by(
                    type="playback.started", play_id=b["id"]
                )
            }
        heard = {}
        for i, onset in enumerate(onsets):
            if onset is None:
                print(f"  run {run}: loa-{i:04d} played nothing")
                continue
            heard[f"loa-{i:04d}"] = onset.at - offset / RATE  # the bulletin's first sample
        if len(heard) < 2:
            continue
        spread = (max(heard.values()) - min(heard.values())) * 1000
        spreads.append(spread)
        for device, at in heard.items():
            start_err.append((at - start_at) * 1000)
            if device in started:
                report_err.append(abs(started[device] - at) * 1000)
        print(
            f"run {run}: {len(heard)}/{n} heard, spread {spread:.1f} ms, "
            f"start − start_at {min(start_err[-len(heard) :]):+.1f} … "
            f"{max(start_err[-len(heard) :]):+.1f} ms"
        )

    stop_station(procs, stop, server, services, timeout=30)
    room.stop()
    broker.stop()
    print()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {n} agents, {args.runs} runs")
    if spreads:
        print(
            f"spread between loudspeakers per bulletin (ms): p50 {pct(spreads, 50):.1f}  "
            f"p99 {pct(spreads, 99):.1f}  max {max(spreads):.1f}"
        )
        skew = [abs(x) for x in start_err]
        print(
            f"|heard start − start_at| (ms): p50 {pct(skew, 50):.1f}  p99 {pct(skew, 99):.1f}  "
            f"max {max(skew):.1f}"
        )
    if report_err:
        print(
            f"|reported actual_start − heard start| (ms): p50 {pct(report_err, 50):.1f}  "
            f"p99 {pct(report_err, 99):.1f}  max {max(report_err):.1f}"
        )


if __name__ == "__main__":
    main()
