"""Ingest at province rate: how many agent reports per second the controller stores.

A real Mosquitto, the real controller (its MQTT sessions and ingest, in this process) on
PostgreSQL (a throw-away database) or SQLite, ``--devices`` registered devices with one
broadcast pending on each, and publisher processes that impersonate the devices, each device
its own MQTT session, sending a fleet's mix of reports (health, acks, media ready, playback
started and finished) at QoS 1 as fast as the broker takes them. The broker's queue for the
controller is made large, so that the figure is the controller's (losses at the broker are
the receipts' business: bench/report_burst.py).

    .venv/bin/python bench/ingest.py [--devices 1000] [--reports 30] [--db postgresql|sqlite]
    .venv/bin/python bench/ingest.py --rate 5000 --reports 60 --stop-agents 3

With ``--stop-agents N``, N real agents in a zone of their own play a bulletin while the
flood goes on, and a STOP to that zone is sent ``--stop-after`` seconds into it: the figure is
API call → each sound card silent (the file output's ``actual_end``), with ingest saturated.

Prints reports/s stored (first received → last committed), the controller's CPU (this
process) apart from the publishers' and the broker's, and refuses to print a rate when the
publishers could not keep ahead of the controller.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import resource
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.scratch import scratch


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    """Resident memory of a process now, MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def publisher(
    port: int,
    devices: list[str],
    reports: int,
    cmd_id: str,
    play_id: str,
    rate: float,
    ready,
    go,
    done,
) -> None:  # type: ignore[no-untyped-def]
    """One process: a session per device, ``reports`` reports each, pre-encoded.

    No thread per session: paho writes each publish at once from this thread (no loop
    thread to hand it to), and one selector reads every session's PUBACKs; with a loop
    thread per session the publishers took more than a core and measured themselves."""
    import selectors

    import paho.mqtt.client as mqtt

    from protocol import topics
    from protocol.messages import (
        AckMessage,
        HealthReport,
        MediaReadyEvent,
        PlaybackFinishedEvent,
        PlaybackStartedEvent,
        encode,
        utcnow,
    )

    now = utcnow()
    work: list[tuple[mqtt.Client, str, bytes]] = []
    clients = []
    selector = selectors.DefaultSelector()

    def pump(timeout: float = 0.0) -> None:
        """Read what the broker sent (CONNACKs, PUBACKs); write what is still queued."""
        for key, _ in selector.select(timeout):
            key.data.loop_read()
        for client in clients:
            if client.want_write():
                client.loop_write()

    for device in devices:
        c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{device}", protocol=mqtt.MQTTv311
        )
        c.max_inflight_messages_set(200)
        c.max_queued_messages_set(0)
        c.connect("127.0.0.1", port)
        selector.register(c.socket(), selectors.EVENT_READ, c)
        clients.append(c)

        def ev(device: str = device, **kw):  # type: ignore[no-untyped-def]
            return dict(event_id=uuid.uuid4().hex, device_id=device, ts=now, **kw)

        for k in range(reports):
            kind = k % 10
            if kind < 4:
                topic, body = (
                    "telemetry",
                    HealthReport(
                        **ev(), version="bench", uptime_s=k, load_1m=0.3, disk_free_mb=900
                    ),
                )
            elif kind < 6:
                topic, body = (
                    "ack",
                    AckMessage(**ev(), cmd_id=cmd_id, accepted=True, play_id=play_id),
                )
            elif kind < 7:
                topic, body = "event", MediaReadyEvent(**ev(), play_id=play_id, sha256="ab" * 32)
            elif kind < 9:
                topic, body = (
                    "event",
                    PlaybackStartedEvent(
                        **ev(),
                        play_id=play_id,
                        broadcast_id=play_id,
                        scheduled_start=now,
                        actual_start=now,
                    ),
                )
            else:
                topic, body = (
                    "event",
                    PlaybackFinishedEvent(
                        **ev(),
                        play_id=play_id,
                        broadcast_id=play_id,
                        scheduled_start=now,
                        actual_start=now,
                        actual_end=now,
                        played_ms=3000,
                    ),
                )
            work.append((c, topics.device_topic(device, topic), encode(body)))
    # interleave the devices, as a fleet's reports arrive
    work.sort(key=lambda w: hash(w[2]))
    while not all(c.is_connected() for c in clients):
        pump(0.1)
    ready.put(len(work))
    go.wait()
    began = time.monotonic()
    infos = []
    for i, (c, t, p) in enumerate(work):
        if i % 50 == 0:
            pump()
            if rate:  # paced: this process's share of --rate
                ahead = began + i / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
        infos.append(c.publish(t, p, qos=1))
    deadline = time.monotonic() + 120
    while not all(i.is_published() for i in infos) and time.monotonic() < deadline:
        pump(0.1)
    done.put(
        (
            time.monotonic() - began,
            sum(i.is_published() for i in infos),
            resource.getrusage(resource.RUSAGE_SELF),
        )
    )
    for c in clients:
        c.disconnect()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--reports", type=int, default=30, help="per device")
    ap.add_argument(
        "--publishers",
        type=int,
        default=0,
        help="publisher processes (default: "
        "one per 250 devices: paho's select() loop fails above 1,024 descriptors)",
    )
    ap.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    ap.add_argument(
        "--rate",
        type=float,
        default=0,
        help="reports/s offered in all (0: as "
        "fast as the publishers go); the controller keeps up or it does not",
    )
    ap.add_argument("--stop-agents", type=int, default=0, help="real agents stopped mid-flood")
    ap.add_argument("--stop-after", type=float, default=4.0, help="seconds into the flood")
    args = ap.parse_args()

    from sqlalchemy import func, select

    from controller.db.models import Device, DeviceEvent, DeviceTelemetry, DeviceZone, Zone
    from protocol.messages import utcnow
    from tests.support import postgres
    from tests.support.audio import make_speech
    from tests.support.mosquitto import Mosquitto
    from tests.support.stack import Stack, wait_for

    tmp = scratch("loalang-ingest-")
    broker = Mosquitto(tmp / "mosquitto", max_queued=10_000_000, max_inflight=1000).start()
    pg = postgres.temp_database() if args.db == "postgresql" else None
    url = pg.__enter__() if pg else None
    stack = Stack(
        tmp, broker.port, database_url=url, fleet_sample_s=3600, offline_alarm_min=600
    ).start()
    services = stack.services
    assert services is not None
    ids = [f"loa-{i:05d}" for i in range(args.devices)]
    try:
        stack.add_zone("bench")
        # the devices straight into the database: registration speed is bench/register.py's
        with services.sessions.begin() as session:
            session.add_all(Device(id=d, name=d, token_hash="-", capabilities=[]) for d in ids)
            session.flush()
            session.add_all(DeviceZone(device_id=d, zone_id="bench") for d in ids)
        assert services.sessions().get(Zone, "bench") is not None
        media = stack.upload(make_speech(tmp / "b.wav", "Bản tin."))
        b = stack.broadcast(
            media["sha256"], ["zone:bench"], start_at=(utcnow() + timedelta(hours=1)).isoformat()
        )
        # acks answer a real command (a STOP to the zone); events advance real deliveries
        r = stack.api.post("/api/stop", json={"targets": ["zone:bench"], "reason": "bench"})
        assert r.status_code in (200, 202), r.text
        cmd_id = _cmd_id(services, "zone:bench")
        stopped = [f"loa-stop-{i}" for i in range(args.stop_agents)]
        if stopped:
            stack.add_zone("thon")
            for d in stopped:
                stack.register(d, ["thon"])
                stack.start_agent(d)
            speech = stack.upload(make_speech(tmp / "dai.wav", "Kính thưa bà con. " * 40))
            long_play = stack.broadcast(speech["sha256"], ["zone:thon"])
            stack.wait_states(long_play["id"], {"playing"}, timeout=60)
        # the plans the new broadcast changed are published before the clock starts
        time.sleep(1)
        wait_for(
            lambda: not services._refresh_running,
            timeout=900,
            interval=0.5,
            what="the plan refresh done",
        )

        ctx = mp.get_context("spawn")
        ready, go, done = ctx.Queue(), ctx.Event(), ctx.Queue()
        publishers = args.publishers or max(2, -(-args.devices // 250))
        parts = [ids[i::publishers] for i in range(publishers)]
        procs = [
            ctx.Process(
                target=publisher,
                args=(
                    broker.port,
                    part,
                    args.reports,
                    cmd_id,
                    b["id"],
                    args.rate / publishers,
                    ready,
                    go,
                    done,
                ),
            )
            for part in parts
        ]
        for p in procs:
            p.start()
        expected = sum(ready.get(timeout=600) for _ in procs)

        def counts() -> int:
            with services.sessions() as session:  # the flood's rows, not the stopped agents'
                return (
                    session.scalar(
                        select(func.count())
                        .select_from(DeviceEvent)
                        .where(DeviceEvent.device_id.notlike("loa-stop-%"))
                    )
                    or 0
                ) + (
                    session.scalar(
                        select(func.count())
                        .select_from(DeviceTelemetry)
                        .where(DeviceTelemetry.device_id.notlike("loa-stop-%"))
                    )
                    or 0
                )

        base = counts()
        services.ingest.lag_s.clear()
        processed0 = services.ingest.processed
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        broker_cpu0 = cpu_of(broker._proc.pid)
        worker = getattr(getattr(services.ingest, "_applier", None), "_proc", None)
        worker_cpu0 = cpu_of(worker.pid) if worker else 0.0
        t0 = time.monotonic()
        go.set()
        stop_ms: list[float] = []
        stop_api_ms = 0.0
        if stopped:
            time.sleep(args.stop_after)
            sent = utcnow()
            r = stack.api.post("/api/stop", json={"targets": ["zone:thon"], "reason": "bench"})
            stop_api_ms = (utcnow() - sent).total_seconds() * 1000
            assert r.status_code in (200, 202), r.text
            stop_ms = _silent_after(stack, stopped, sent)
        results = [done.get(timeout=900) for _ in procs]
        published_s = max(r[0] for r in results)
        wait_for(
            lambda: services.ingest.processed - processed0 >= expected,
            timeout=900,
            interval=0.2,
            what="every report applied",
        )
        services.ingest.wait_idle(120)
        took = time.monotonic() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        broker_cpu = cpu_of(broker._proc.pid) - broker_cpu0
        worker_cpu = cpu_of(worker.pid) - worker_cpu0 if worker else 0.0
        stored = counts() - base
        for p in procs:
            p.join(30)
        ctl_cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        pub_cpu = sum(r[2].ru_utime + r[2].ru_stime for r in results)
        lag = sorted(services.ingest.lag_s)

        print(
            f"\nLoa Làng ingest benchmark — {args.db}, {args.devices} devices, "
            f"{args.reports} reports each, {platform.machine()} {os.cpu_count()} cores, "
            f"{platform.python_implementation()} {platform.python_version()}"
        )
        print(
            f"  reports sent {expected}, stored {stored} (events + health rows), "
            f"lost {expected - stored}"
        )
        print(f"  publishers done in {published_s:.1f} s; controller done in {took:.1f} s")
        if args.rate:
            offered = expected / published_s
            kept_up = took < published_s * 1.1 + 1  # no backlog built up anywhere
            print(
                f"  offered {offered:,.0f} reports/s for {published_s:.1f} s: the controller "
                f"{'KEPT UP' if kept_up else 'FELL BEHIND'} (stored {stored / took:,.0f}/s)"
            )
        elif published_s > 0.8 * took:
            print("  REFUSED: the publishers were not ahead of the controller; no rate printed")
        else:
            print(f"  stored {stored / took:,.0f} reports/s (first sent → last committed)")
        print(
            f"  CPU: controller {ctl_cpu:.1f} s ({ctl_cpu / took:.0%} of one core)"
            + (
                f" + its ingest process {worker_cpu:.1f} s ({worker_cpu / took:.0%})"
                if worker
                else ""
            )
            + f", broker {broker_cpu:.1f} s, publishers {pub_cpu:.1f} s"
        )
        print(
            f"  RSS: controller {rss_mib(os.getpid()):.0f} MiB"
            + (f" + ingest process {rss_mib(worker.pid):.0f} MiB" if worker else "")
            + f", broker {rss_mib(broker._proc.pid):.0f} MiB"
        )
        if stopped:
            print(
                f"  STOP mid-flood ({args.stop_after:.0f} s in), {len(stopped)} agents: API "
                f"answered in {stop_api_ms:.0f} ms; silent after min {min(stop_ms):.0f} / "
                f"max {max(stop_ms):.0f} ms (target under 1000 ms; ratio "
                f"{max(stop_ms) / 1000:.2f})"
            )
        if lag:
            print(
                f"  ingest lag (received → committed) p50 {lag[len(lag) // 2] * 1000:.0f} ms"
                f"  p99 {lag[int(len(lag) * 0.99)] * 1000:.0f} ms"
            )
    finally:
        stack.stop()
        broker.stop()
        if pg:
            pg.__exit__(None, None, None)


def _silent_after(stack, devices: list[str], sent) -> list[float]:  # type: ignore[no-untyped-def]
    """Milliseconds from ``sent`` to each agent's last sample."""
    from tests.support.stack import wait_for

    wait_for(
        lambda: all(stack.last_play_end(d) for d in devices),
        timeout=60,
        interval=0.05,
        what="every stopped agent silent",
    )
    return [(stack.last_play_end(d) - sent).total_seconds() * 1000 for d in devices]


def _cmd_id(services, target: str) -> str:  # type: ignore[no-untyped-def]
    from controller.db.models import Command

    with services.sessions() as session:
        return session.query(Command).filter_by(target=target, type="stop").one().cmd_id


if __name__ == "__main__":
    main()
