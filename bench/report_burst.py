"""A fleet flushing its backlog at once after an outage: how many reports are stored, how
many were sent again for want of a receipt, how long until every outbox is empty.

Real Mosquitto (its default queue of 1,000 messages per client unless --queue says
otherwise), the real controller, and the agent's real outbox and MQTT link (each agent its
own session) with ``--backlog`` reports queued on disk each, all connecting at once. The links
run in processes of their own (``--per-process`` each: a link is a paho thread and a socket),
so the figures are the controller's and the broker's, not the harness's interpreter.

    .venv/bin/python bench/report_burst.py [--agents 100] [--backlog 30] [--queue 1000]
    .venv/bin/python bench/report_burst.py --agents 1000 --db postgresql
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.scratch import scratch


def links_group(
    port: int,
    devices: list[str],
    root: str,
    backlog: int,
    jitter: float,
    receipts: bool,
    ready,
    go,
    done,
) -> None:  # type: ignore[no-untyped-def]
    """One process: ``devices`` agents' outboxes filled with a backlog, their links started
    together on ``go``; reports (seconds until every outbox is empty, reports sent again)."""
    from edge_agent.config import MqttConfig
    from edge_agent.link import MqttLink
    from edge_agent.outbox import Outbox
    from protocol import topics
    from protocol.messages import DeviceState, MediaReadyEvent, StatusMessage, encode, utcnow

    links = []
    for device in devices:
        outbox = Outbox(Path(root) / device / "outbox")
        for k in range(backlog):
            event = MediaReadyEvent(
                event_id=uuid.uuid4().hex,
                device_id=device,
                ts=utcnow(),
                play_id=f"outage-{k}",
                sha256="ab" * 32,
            )
            outbox.put(
                topics.device_topic(device, "event"),
                encode(event),
                key=event.event_id if receipts else None,
            )
        config = MqttConfig(port=port, flush_jitter_s=jitter)
        links.append(
            MqttLink(
                config,
                device,
                [],
                outbox,
                lambda t, p: None,
                lambda d=device: StatusMessage(device_id=d, state=DeviceState.online),
            )
        )
    ready.put(len(links))
    go.wait()
    began = time.monotonic()
    for link in links:
        link.start()
    while sum(len(link._outbox) for link in links) and time.monotonic() - began < 900:
        time.sleep(0.5)
    took = time.monotonic() - began
    left = sum(len(link._outbox) for link in links)
    done.put((took, sum(link.resent for link in links), left))
    for link in links:
        link.stop(publish_offline=False)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--backlog", type=int, default=30)
    ap.add_argument("--queue", type=int, default=1000)
    ap.add_argument("--jitter", type=float, default=10.0, help="flush_jitter_s of each agent")
    ap.add_argument(
        "--per-process",
        type=int,
        default=250,
        help="agents' links per process (paho's select() fails above 1,024 descriptors)",
    )
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument(
        "--no-receipts",
        action="store_true",
        help="the old way, for comparison: reports queued without a key go on the broker's PUBACK",
    )
    args = ap.parse_args()

    from sqlalchemy import select

    from controller.db.models import DeviceEvent
    from tests.support import postgres
    from tests.support.mosquitto import Mosquitto
    from tests.support.stack import Stack

    tmp = scratch("loalang-burst-")
    broker = Mosquitto(tmp / "mosquitto", max_queued=args.queue).start()
    pg = postgres.temp_database() if args.db == "postgresql" else None
    url = pg.__enter__() if pg else None
    stack = Stack(tmp, broker.port, database_url=url).start()
    procs = []
    try:
        devices = [f"loa-{i}" for i in range(args.agents)]
        for device in devices:
            stack.register(device, [])
        expected = args.agents * args.backlog
        ctx = mp.get_context("spawn")
        ready, go, done = ctx.Queue(), ctx.Event(), ctx.Queue()
        groups = max(1, -(-args.agents // args.per_process))
        procs = [
            ctx.Process(
                target=links_group,
                args=(
                    broker.port,
                    devices[i::groups],
                    str(tmp / "agents"),
                    args.backlog,
                    args.jitter,
                    not args.no_receipts,
                    ready,
                    go,
                    done,
                ),
            )
            for i in range(groups)
        ]
        for proc in procs:
            proc.start()
        assert sum(ready.get(timeout=600) for _ in procs) == args.agents
        go.set()
        results = [done.get(timeout=1000) for _ in procs]
        took = max(r[0] for r in results)
        resent = sum(r[1] for r in results)
        left = sum(r[2] for r in results)
        assert stack.services is not None
        stack.services.ingest.wait_idle(120)
        with stack.services.sessions() as session:
            rows = Counter(
                session.scalars(
                    select(DeviceEvent.event_id).where(DeviceEvent.type == "media.ready")
                )
            )
        print(
            f"agents {args.agents} in {groups} processes, backlog {args.backlog} each, "
            f"broker queue {args.queue}, pause before a backlog 0-{args.jitter:g} s, "
            f"{'no receipts (the old way)' if args.no_receipts else 'receipts'}, {args.db}"
        )
        print(
            f"reports queued {expected}, stored {sum(rows.values())} "
            f"({len(rows)} distinct, {sum(1 for n in rows.values() if n > 1)} twice), "
            f"lost {expected - len(rows)}" + (f", still queued {left}" if left else "")
        )
        print(
            f"sent again for want of a receipt {resent} ({resent / expected:.1%}); "
            f"every outbox empty after {took:.1f} s"
        )
    finally:
        for proc in procs:
            proc.join(30)
        stack.stop()
        broker.stop()
        if pg:
            pg.__exit__(None, None, None)


if __name__ == "__main__":
    main()
