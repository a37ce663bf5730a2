"""STOP latency: from the API call to the moment each sound card stops receiving audio.

Real Mosquitto and controller, in-process agents with the file output (paced like a sound
card; its sidecar records when the last sample was handed over).

    .venv/bin/python bench/stop_latency.py [--agents 3] [--stops 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.scratch import scratch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=3)
    ap.add_argument("--stops", type=int, default=3)
    args = ap.parse_args()

    from protocol.messages import utcnow
    from tests.support.audio import make_speech
    from tests.support.mosquitto import Mosquitto
    from tests.support.stack import Stack

    tmp = scratch("loalang-stop-")
    broker = Mosquitto(tmp / "mosquitto").start()
    stack = Stack(tmp, broker.port).start()
    devices = [f"loa-{i}" for i in range(args.agents)]
    latencies = []
    try:
        stack.add_zone("thon")
        for d in devices:
            stack.register(d, ["thon"])
            stack.start_agent(d)
        media = stack.upload(make_speech(tmp / "dai.wav", "Kính thưa bà con. " * 12))
        for _ in range(args.stops):
            b = stack.broadcast(media["sha256"], ["zone:thon"])
            stack.wait_states(b["id"], {"playing"})
            time.sleep(1)
            sent = utcnow()
            stack.api.post("/api/stop", json={"targets": ["zone:thon"], "reason": "bench"})
            stack.wait_states(b["id"], {"interrupted"})
            for d in devices:
                latencies.append((stack.last_play_end(d) - sent).total_seconds() * 1000)
            time.sleep(1)
    finally:
        stack.stop()
        broker.stop()
    latencies.sort()
    print(
        f"STOP → silent, {args.agents} agents × {args.stops} stops: min {latencies[0]:.0f} ms, "
        f"median {statistics.median(latencies):.0f} ms, max {latencies[-1]:.0f} ms "
        f"(target: under 1000 ms; ratio max/target {latencies[-1] / 1000:.2f})"
    )


if __name__ == "__main__":
    main()
