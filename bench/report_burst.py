"""A fleet flushing its backlog at once after an outage: how many reports are stored, how
many were sent again for want of a receipt, how long until every outbox is empty.

Real Mosquitto (its default queue of 1,000 messages per client unless --queue says
otherwise), the real controller, and the agent's real outbox and MQTT link (each agent its
own session) with ``--backlog`` reports queued on disk each, all connecting at once. The links
run in this process beside the controller, so at large --agents the figures include the
harness competing for the interpreter.

    .venv/bin/python bench/report_burst.py [--agents 100] [--backlog 30] [--queue 1000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--backlog", type=int, default=30)
    ap.add_argument("--queue", type=int, default=1000)
    ap.add_argument("--jitter", type=float, default=10.0, help="flush_jitter_s of each agent")
    ap.add_argument("--no-receipts", action="store_true", help="the old way, for comparison: "
                    "reports queued without a key go on the broker's PUBACK")
    args = ap.parse_args()

    from sqlalchemy import select

    from controller.db.models import DeviceEvent
    from edge_agent.config import MqttConfig
    from edge_agent.link import MqttLink
    from edge_agent.outbox import Outbox
    from protocol import topics
    from protocol.messages import DeviceState, MediaReadyEvent, StatusMessage, encode, utcnow
    from tests.support.mosquitto import Mosquitto
    from tests.support.stack import Stack, wait_for

    tmp = Path(tempfile.mkdtemp(prefix="loalang-burst-"))
    broker = Mosquitto(tmp / "mosquitto", max_queued=args.queue).start()
    stack = Stack(tmp, broker.port).start()
    links = []
    try:
        for i in range(args.agents):
            stack.register(f"loa-{i}", [])
        expected = args.agents * args.backlog
        for i in range(args.agents):
            device = f"loa-{i}"
            outbox = Outbox(tmp / "agents" / device / "outbox")
            for k in range(args.backlog):
                event = MediaReadyEvent(event_id=uuid.uuid4().hex, device_id=device,
                                        ts=utcnow(), play_id=f"outage-{k}", sha256="ab" * 32)
                outbox.put(topics.device_topic(device, "event"), encode(event),
                           key=None if args.no_receipts else event.event_id)
            config = MqttConfig(port=broker.port, flush_jitter_s=args.jitter)
            links.append(MqttLink(config, device, [], outbox, lambda t, p: None,
                                  lambda d=device: StatusMessage(device_id=d,
                                                                 state=DeviceState.online)))
        began = time.monotonic()
        for link in links:
            link.start()
        assert stack.services is not None

        def stored() -> Counter[str]:
            with stack.services.sessions() as session:  # type: ignore[union-attr]
                return Counter(session.scalars(select(DeviceEvent.event_id).where(
                    DeviceEvent.type == "media.ready")))

        wait_for(lambda: sum(len(link._outbox) for link in links) == 0, timeout=900,
                 interval=0.5, what="every outbox empty")
        took = time.monotonic() - began
        stack.services.ingest.wait_idle(60)
        rows = stored()
        resent = sum(link.resent for link in links)
        print(f"agents {args.agents}, backlog {args.backlog} each, broker queue {args.queue}, "
              f"pause before a backlog 0-{args.jitter:g} s, "
              f"{'no receipts (the old way)' if args.no_receipts else 'receipts'}")
        print(f"reports queued {expected}, stored {sum(rows.values())} "
              f"({len(rows)} distinct, {sum(1 for n in rows.values() if n > 1)} twice), "
              f"lost {expected - len(rows)}")
        print(f"sent again for want of a receipt {resent} ({resent / expected:.1%}); "
              f"every outbox empty after {took:.1f} s")
    finally:
        for link in links:
            link.stop(publish_offline=False)
        stack.stop()
        broker.stop()


if __name__ == "__main__":
    main()
