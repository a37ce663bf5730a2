"""Edge agent footprint and reconnection, measured on a real agent process.

Real Mosquitto and controller; one agent started as its own process (``loalang agent``), as
on a Pi. Prints resident memory (MB) and CPU (% of one core) while idle and while playing,
and the time from a broker restart to the agent's retained "online" status.

    .venv/bin/python bench/agent_footprint.py [--idle-s 30] [--play-s 20] [--restarts 5]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.scratch import scratch

TICKS = os.sysconf("SC_CLK_TCK")
GOAL_IDLE_RSS_MB = 35.0  # the agent idle, on the Pi's 1 GB (docs/benchmarks.md)


def step(text: str) -> None:
    print(text, flush=True)


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out.append(int(entry.name))
    return out


def sample(pid: int, seconds: float) -> dict[str, float]:
    """CPU % of one core and peak RSS of the agent, and of its children (ffmpeg, aplay)."""
    t0, c0 = time.monotonic(), cpu_ticks(pid)
    kids0 = {k: cpu_ticks(k) for k in children(pid)}
    peak = rss_mb(pid)
    kid_rss = 0.0
    end = t0 + seconds
    while time.monotonic() < end:
        time.sleep(0.5)
        peak = max(peak, rss_mb(pid))
        for k in children(pid):
            kids0.setdefault(k, cpu_ticks(k))
            try:
                kid_rss = max(kid_rss, rss_mb(k))
            except OSError:
                pass
    wall = time.monotonic() - t0
    kid_ticks = 0
    for k, start in kids0.items():
        try:
            kid_ticks += cpu_ticks(k) - start
        except OSError:
            pass  # exited: its last slice is lost, a small undercount
    return {
        "cpu_pct": (cpu_ticks(pid) - c0) / TICKS / wall * 100,
        "rss_mb": peak,
        "children_cpu_pct": kid_ticks / TICKS / wall * 100,
        "children_rss_mb": kid_rss,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--idle-s", type=float, default=30)
    ap.add_argument("--play-s", type=float, default=20)
    ap.add_argument("--restarts", type=int, default=5)
    ap.add_argument(
        "--stable-s",
        type=float,
        default=35,
        help="link up this long before each restart (the agent's backoff starts "
        "over after 30 s of stable link; shorter measures a flapping broker)",
    )
    ap.add_argument(
        "--media-s",
        type=float,
        default=150,
        help="bulletin length; over 120 s it is decoded by an ffmpeg child while "
        "it plays, shorter ones from PCM decoded in advance",
    )
    args = ap.parse_args()

    import paho.mqtt.client as mqtt

    from tests.support.mosquitto import Mosquitto
    from tests.support.stack import Stack, wait_for

    tmp = scratch("loalang-footprint-")
    # the controller's own log (its link drops at each deliberate broker restart) goes to a
    # file; the terminal gets what the bench is doing
    logging.basicConfig(
        filename=tmp / "controller.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    total_s = 3 + args.idle_s + args.play_s + (args.restarts + 1) * (args.stable_s + 2)
    minutes = max(1, round(total_s / 60))
    step(f"starting a controller, Mosquitto and one agent (about {minutes} min in all)")
    broker = Mosquitto(tmp / "mosquitto").start()
    stack = Stack(tmp, broker.port).start()
    stack.add_zone("thon-dong")
    # The file output paces like a sound card (ALSA's null device does not: it would swallow
    # the audio at once), so "playing" lasts as long as the bulletin.
    r = stack.api.post(
        "/api/devices",
        json={"id": "loa-bench", "name": "bench", "zones": ["thon-dong"], "output": "file"},
    )
    text = r.json()["config_toml"].replace(
        'data_dir = "/var/lib/loalang-agent"', f'data_dir = "{tmp / "agent"}"'
    )
    config = tmp / "agent.toml"
    config.write_text(text)
    agent = subprocess.Popen(
        [sys.executable, "-m", "edge_agent", "run", "--config", str(config)],
        stdout=open(tmp / "agent.log", "wb"),
        stderr=subprocess.STDOUT,
    )
    status = lambda: stack.api.get("/api/devices/loa-bench").json()["status"]  # noqa: E731
    try:
        wait_for(lambda: status() == "online", what="agent online")
        time.sleep(3)  # past start-up
        step(f"idle: sampling the agent for {args.idle_s:.0f} s")
        idle = sample(agent.pid, args.idle_s)
        step(f"  RSS {idle['rss_mb']:.1f} MB, CPU {idle['cpu_pct']:.2f} %")

        long_wav = tmp / "long.wav"
        subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                f"sine=frequency=440:duration={max(args.media_s, args.play_s + 15)}",
                str(long_wav),
            ],
            check=True,
        )
        media = stack.upload(long_wav)
        b = stack.broadcast(media["sha256"], ["zone:thon-dong"])
        try:
            state = stack.wait_states(b["id"], {"playing", "failed", "missed"}, timeout=60)
        except AssertionError:
            raise SystemExit(f"no start: {stack.get_broadcast(b['id'])}") from None
        if state["deliveries"][0]["state"] != "playing":
            raise SystemExit(f"the play did not start: {state['deliveries'][0]}")
        time.sleep(1)
        step(f"playing: sampling for {args.play_s:.0f} s")
        playing = sample(agent.pid, args.play_s)
        step(f"  RSS {playing['rss_mb']:.1f} MB, CPU {playing['cpu_pct']:.2f} %")
        stack.api.post("/api/stop", json={"targets": ["all"], "reason": "bench"})
        step(f"stopped; link stable for {args.stable_s:.0f} s before the first broker restart")
        time.sleep(args.stable_s)

        # reconnection: broker restart → the agent's retained "online" status again
        seen = threading.Event()
        watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        watcher.on_message = lambda c, u, m: (
            json.loads(m.payload or b"{}").get("state") == "online" and seen.set()
        )
        watcher.on_connect = lambda c, u, f, rc, p: c.subscribe(
            "loalang/v1/device/loa-bench/status", qos=1
        )
        reconnect_s = []
        for n in range(args.restarts):
            broker.kill()  # deliberate: the controller's log says its link dropped
            time.sleep(1.0)
            broker.start()
            up = time.monotonic()
            seen.clear()
            watcher.connect("127.0.0.1", broker.port)
            watcher.loop_start()
            # the retained message from before the restart is gone (no persistence)
            if not seen.wait(120):
                raise SystemExit("agent did not come back within 120 s")
            reconnect_s.append(time.monotonic() - up)
            step(
                f"broker restart {n + 1}/{args.restarts}: the agent online again after "
                f"{reconnect_s[-1]:.2f} s"
                + (f"; stable {args.stable_s:.0f} s" if n + 1 < args.restarts else "")
            )
            watcher.loop_stop()
            watcher.disconnect()
            if n + 1 < args.restarts:
                time.sleep(args.stable_s)
    finally:
        agent.terminate()
        agent.wait(timeout=20)
        stack.stop()
        broker.stop()

    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, bulletin {max(args.media_s, args.play_s + 15):.0f} s"
    )
    for name, s in (("idle", idle), ("playing", playing)):
        print(
            f"{name:8} agent RSS {s['rss_mb']:.1f} MB  CPU {s['cpu_pct']:.2f} % of a core   "
            f"children (ffmpeg/aplay) RSS {s['children_rss_mb']:.1f} MB  "
            f"CPU {s['children_cpu_pct']:.2f} %"
        )
    print(f"RSS share of a 1 GB Raspberry Pi 3: {playing['rss_mb'] / 1024 * 100:.1f} %")
    print(
        f"goal: idle RSS ≤ {GOAL_IDLE_RSS_MB:.0f} MB: "
        f"{'met' if idle['rss_mb'] <= GOAL_IDLE_RSS_MB else 'NOT met'} ({idle['rss_mb']:.1f} MB)"
    )
    print(
        f"reconnect after broker restart (n={len(reconnect_s)}): "
        f"median {statistics.median(reconnect_s):.2f} s, max {max(reconnect_s):.2f} s "
        f"(broker down 1 s; link stable {args.stable_s:.0f} s before each restart; "
        f"backoff: jittered, first retry 1–3 s)"
    )


if __name__ == "__main__":
    main()
