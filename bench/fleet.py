"""A fleet simulator that measures the system, not itself: thousands of simulated agents in a
few processes, each with its own MQTT session and credentials, on an event loop (no thread
per agent), running the agent's real verification (``protocol.envelope.verify``), state
(``edge_agent.state.AgentState``, on tmpfs) and report models, with a null sound output that
records when each play would have started; reports are kept until the controller's receipt
names them, as the real outbox does.

    .venv/bin/python bench/fleet.py --agents 1000 [--per-process 1250] [--db postgresql]

The run: a real Mosquitto, the real controller over HTTP (devices registered through the
API), the simulated fleet online, then an emergency to every loudspeaker confirmed by a
second person, and the broker's raw fan-out to the same sessions in the same run. Prints
confirmation → command verified on the device (p50/p99, as a ratio to raw), → "playing"
stored, start skew, the controller's RSS and CPU apart from the broker's and the
simulators'; refuses to print figures when a simulator's event loop ran late (it was itself
the bottleneck).

So that a few processes can stand for thousands of devices without their queueing entering the
figures, the simulators run at ``SCHED_IDLE`` (they never take a core the controller, the
broker or PostgreSQL wants), each message's arrival is the kernel's timestamp of the bytes
reaching that device's socket (``SO_TIMESTAMPNS``), and a device's own work on a command is the
CPU time it spent on it, as if it had its own core (a Pi's core is slower: the agent's own cost
is in "Edge agent footprint"). What a device sends is stamped with the moment it meant to send,
and the time it then waited in its simulator's loop is printed and taken off the figures that
include it. ``FLEET_PROFILE_SIM=1`` prints a profile of each simulator's measured part.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import resource
import socket
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.failures import ErrorWatch
from bench.scratch import scratch

LOOP_LATE_LIMIT_MS = 1000.0
"""Simulators' loops later than this (p99): "'playing' stored" is refused.

Arrivals are kernel timestamps and a device's own work is its CPU time, so a late loop does
not enter the verification figures; but the reports then reach the controller spread out by
the harness, not in the burst a real fleet sends, and that figure would flatter it."""

SYNC_LEAD_S = 2.0

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux's; not in Python's list


def timed_client_class() -> Any:
    """A paho client that remembers when the kernel received the bytes it last read."""
    import struct

    import paho.mqtt.client as mqtt

    class TimedClient(mqtt.Client):
        arrived: float = 0.0

        def _sock_recv(self, bufsize: int) -> bytes:  # paho's one read path (2.x)
            sock = self._sock
            if not isinstance(sock, socket.socket):
                return super()._sock_recv(bufsize)
            data, ancillary, _, _ = sock.recvmsg(bufsize, socket.CMSG_SPACE(16))
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", value[:16])
                    self.arrived = sec + nsec / 1e9
            return data

    return TimedClient


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))]


# --- the simulated agent ----------------------------------------------------------------------


class SimAgent:
    """One loudspeaker: its MQTT session on the shared event loop, its real state file."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, config: dict[str, Any], results: dict[str, Any]
    ):
        import paho.mqtt.client as mqtt

        from edge_agent.config import AgentConfig
        from edge_agent.state import AgentState
        from protocol import topics

        self.loop = loop
        self.config = AgentConfig.from_dict(config)
        self.device_id = self.config.device_id
        self.keys = self.config.public_keys()
        self.config.data_path.mkdir(parents=True, exist_ok=True)
        self.state = AgentState(self.config.data_path / "state.json", self.config.zones)
        self.results = results
        self.pending: dict[str, tuple[str, bytes, float]] = {}  # event id → unconfirmed report
        self.connected = asyncio.Event()
        m = self.config.mqtt
        self.client = timed_client_class()(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.device_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        if m.username:
            self.client.username_pw_set(m.username, m.password)
        self.status_topic = topics.device_topic(self.device_id, "status")
        self.client.will_set(self.status_topic, self._status(False), qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_socket_open = self._socket_open
        self.client.on_socket_close = self._socket_close
        self.client.on_socket_register_write = self._want_write
        self._write_soon = False
        self.subscriptions = [
            *topics.agent_subscriptions(self.device_id, self.state.zones),
            topics.device_topic(self.device_id, "receipt"),
            "bench/ping",
        ]

    def _status(self, online: bool) -> bytes:
        from protocol.messages import DeviceState, StatusMessage, encode, utcnow

        return encode(
            StatusMessage(
                device_id=self.device_id,
                ts=utcnow(),
                version="sim",
                state=DeviceState.online if online else DeviceState.offline,
                capabilities=["output:null"],
            )
        )

    # paho on an asyncio loop (paho's own external-loop callbacks)
    def _socket_open(self, client: Any, userdata: Any, sock: Any) -> None:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.loop.add_reader(sock, client.loop_read)

    def _socket_close(self, client: Any, userdata: Any, sock: Any) -> None:
        self.loop.remove_reader(sock)
        self.loop.remove_writer(sock)

    def _want_write(self, client: Any, userdata: Any, sock: Any) -> None:
        """paho has bytes to send: write them on the loop's next turn (not through the
        selector: two epoll changes per packet cost more than the packet), and wait for the
        socket only if it could not take them all."""
        if not self._write_soon:
            self._write_soon = True
            self.loop.call_soon(self._write, sock)

    def _write(self, sock: Any) -> None:
        self._write_soon = False
        self.client.loop_write()
        if self.client.want_write():
            self.loop.add_writer(sock, self._write_blocked, sock)

    def _write_blocked(self, sock: Any) -> None:
        self.loop.remove_writer(sock)
        self._write(sock)

    def start(self) -> None:
        m = self.config.mqtt
        self.client.connect(m.host, m.port, keepalive=60)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        client.subscribe([(t, 1) for t in self.subscriptions])
        client.publish(self.status_topic, self._status(True), qos=1, retain=True)
        self.connected.set()

    def report(self, kind: str, model: Any, meant: float | None = None) -> None:
        """Send a report; ``meant`` is when the device would have sent it (its own time)."""
        from protocol import topics
        from protocol.messages import encode

        topic, payload = topics.device_topic(self.device_id, kind), encode(model)
        self.pending[model.event_id] = (topic, payload, time.monotonic())
        if meant is not None:
            now = time.time()
            self.results["send_wait_ms"].append((model.event_id, (now - meant) * 1000, now))
        self.client.publish(topic, payload, qos=1)

    def resend(self, older_than_s: float = 20.0) -> None:
        now = time.monotonic()
        for event_id, (topic, payload, sent) in list(self.pending.items()):
            if now - sent > older_than_s:
                self.pending[event_id] = (topic, payload, now)
                self.client.publish(topic, payload, qos=1)
                self.results["resent"].append(1)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        received = client.arrived  # the kernel's, not the loop's, moment
        if not received:
            self.results["untimed"] += 1
            received = time.time()
        if msg.topic == "bench/ping":
            self.results["raw_ms"].append((received - json.loads(msg.payload)["t"]) * 1000)
            return
        if msg.topic.endswith("/receipt"):
            for event_id in json.loads(msg.payload).get("ids", []):
                self.pending.pop(event_id, None)
            return
        if msg.topic.endswith("/plan"):
            return  # plans: verified by the real agent's tests; the fleet measures commands
        self._command(msg.topic, msg.payload, received)

    def _command(self, topic: str, raw: bytes, received: float) -> None:
        from protocol.envelope import Rejected, verify
        from protocol.messages import AckMessage, PlayCommand, utcnow

        cpu0 = time.thread_time()
        now = utcnow()
        try:
            command = verify(
                raw,
                keys=self.keys,
                device_id=self.device_id,
                zones=set(self.state.zones),
                last_seq=self.state.last_seq,
                last_cmd=self.state.last_cmd,
                now=now,
            )
        except Rejected as rej:
            self.results["refused"].append(rej.reason)
            return
        body = command.body
        play = body if isinstance(body, PlayCommand) else None
        new = self.state.accept(
            command.target,
            command.seq,
            play.play_id if play else None,
            play.start_at if play else None,
            now,
            command.cmd_id,
        )
        # verified on its own core: arrival plus the CPU this device spent on it
        verified = received + (time.thread_time() - cpu0)
        self.results["verified"].append((command.cmd_id, received, verified))
        self.results["own_ms"].append((verified - received) * 1000)
        self.report(
            "ack",
            AckMessage(
                event_id=uuid.uuid4().hex,
                device_id=self.device_id,
                cmd_id=command.cmd_id,
                ts=utcnow(),
                accepted=True,
                play_id=play.play_id if play else None,
            ),
            meant=verified,
        )
        if play is not None and new:
            self.results["spare_ms"].append((play.start_at.timestamp() - verified) * 1000)
            delay = max(0.0, play.start_at.timestamp() - time.time())
            self.loop.call_later(delay, self._start, play)

    def _start(self, play: Any) -> None:
        """The null output: the play 'starts' now; report started, then finished."""
        from datetime import timedelta

        from protocol.messages import PlaybackFinishedEvent, PlaybackStartedEvent, utcnow

        actual = utcnow()
        self.results["starts"].append((play.start_at.timestamp(), actual.timestamp()))
        common = dict(
            device_id=self.device_id,
            play_id=play.play_id,
            broadcast_id=play.broadcast_id,
            scheduled_start=play.start_at,
            actual_start=actual,
        )
        started = PlaybackStartedEvent(event_id=uuid.uuid4().hex, ts=actual, **common)
        # every start due now is stamped first; the reports follow on the loop's next turn
        self.loop.call_soon(self.report, "event", started, actual.timestamp())
        duration_s = (play.media.duration_ms if play.media else 1000) / 1000

        def finish() -> None:
            end = utcnow()
            self.report(
                "event",
                PlaybackFinishedEvent(
                    event_id=uuid.uuid4().hex,
                    ts=end,
                    actual_end=end,
                    played_ms=int((end - actual) / timedelta(milliseconds=1)),
                    **common,
                ),
            )

        self.loop.call_later(duration_s, finish)


def sim_worker(
    configs: list[dict[str, Any]], ready: Any, stop: Any, out: Any, idle: bool = True
) -> None:
    """One process: its share of the fleet on one event loop; reports what it measured."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    loop = asyncio.new_event_loop()
    results: dict[str, Any] = {
        k: []
        for k in (
            "raw_ms",
            "verified",
            "starts",
            "refused",
            "resent",
            "late_ms",
            "own_ms",
            "send_wait_ms",
            "spare_ms",
        )
    }
    results["untimed"] = 0
    if idle:  # never take a core from the system under test
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))

    async def run() -> None:
        agents = [SimAgent(loop, c, results) for c in configs]
        for i, agent in enumerate(agents):
            agent.start()
            if i % 50 == 49:
                await asyncio.sleep(0.05)  # let the loop serve what connected so far
        await asyncio.wait_for(asyncio.gather(*(a.connected.wait() for a in agents)), 600)

        async def misc() -> None:  # paho's keep-alive, for every session of this process
            while True:
                await asyncio.sleep(1)
                for agent in agents:
                    agent.client.loop_misc()

        keepalive = loop.create_task(misc())
        ready.put(len(agents))
        if os.environ.get("FLEET_PROFILE_SIM"):
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        tick = 0.1
        last = loop.time()
        while not stop.is_set():
            await asyncio.sleep(tick)
            now = loop.time()
            results["late_ms"].append((now - last - tick) * 1000)  # the loop's own lateness
            last = now
            if int(now) % 5 == 0:
                for agent in agents:
                    agent.resend()
        await asyncio.sleep(2)
        unconfirmed = sum(len(a.pending) for a in agents)
        if os.environ.get("FLEET_PROFILE_SIM"):
            import pstats

            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        keepalive.cancel()
        for agent in agents:
            agent.client.disconnect()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        out.put(
            dict(
                results,
                unconfirmed=unconfirmed,
                cpu_s=usage.ru_utime + usage.ru_stime,
                rss_mb=usage.ru_maxrss / 1024,
            )
        )

    loop.run_until_complete(run())


# --- the run ------------------------------------------------------------------------------------


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--per-process", type=int, default=1250)
    ap.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    ap.add_argument("--pings", type=int, default=10)
    ap.add_argument(
        "--no-idle",
        action="store_true",
        help="run the simulators at normal priority (they then compete for cores)",
    )
    ap.add_argument(
        "--state-dir",
        type=Path,
        default=Path("/dev/shm") if Path("/dev/shm").is_dir() else None,
        help="where simulated agents keep their state",
    )
    args = ap.parse_args()

    import tomllib
    from datetime import datetime

    import paho.mqtt.client as mqtt
    from sqlalchemy import func, select

    from controller.db.models import Command, Device, DeviceEvent
    from tests.support import postgres
    from tests.support.audio import make_speech
    from tests.support.mosquitto import Mosquitto
    from tests.support.stack import Stack, wait_for

    n = args.agents
    errors = ErrorWatch()  # a database that refuses writes fails the run at once
    tmp = scratch("loalang-fleet-")
    state_root = scratch("loalang-fleet-agents-", dir=args.state_dir)
    broker = Mosquitto(tmp / "mosquitto").start()
    pg = postgres.temp_database() if args.db == "postgresql" else None
    url = pg.__enter__() if pg else None
    stack = Stack(
        tmp,
        broker.port,
        database_url=url,
        sync_lead_s=SYNC_LEAD_S,
        missed_grace_s=5,
        fleet_sample_s=3600,
    ).start()
    services = stack.services
    assert services is not None
    procs: list[Any] = []
    stop = None
    try:
        stack.add_zone("tinh")
        began = time.monotonic()

        def register(i: int) -> dict[str, Any]:
            r = stack.api.post(
                "/api/devices",
                json={
                    "id": f"loa-{i:05d}",
                    "name": f"sim {i}",
                    "zones": ["tinh"],
                    "output": "file",
                },
            )
            r.raise_for_status()
            data = tomllib.loads(r.json()["config_toml"])
            data["data_dir"] = str(state_root / f"loa-{i:05d}")
            return data

        with ThreadPoolExecutor(8) as pool:
            configs = list(pool.map(register, range(n)))
        register_s = time.monotonic() - began
        media = stack.upload(make_speech(tmp / "khan.wav", "Thông báo khẩn."))

        ctx = mp.get_context("spawn")
        ready, stop, out = ctx.Queue(), ctx.Event(), ctx.Queue()
        groups = [configs[i : i + args.per_process] for i in range(0, n, args.per_process)]
        began = time.monotonic()
        procs = [
            ctx.Process(target=sim_worker, args=(g, ready, stop, out, not args.no_idle))
            for g in groups
        ]
        for p in procs:
            p.start()
        for _ in procs:
            ready.get(timeout=900)
        connect_s = time.monotonic() - began

        def online() -> int:
            errors.check(services.ingest)
            with services.sessions() as session:
                return (
                    session.scalar(
                        select(func.count()).select_from(Device).where(Device.status == "online")
                    )
                    or 0
                )

        wait_for(lambda: online() >= n, timeout=600, interval=1, what="the fleet online")
        time.sleep(3)

        # the broker's raw fan-out to the same sessions
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-raw")
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        for _ in range(args.pings):
            pub.publish("bench/ping", json.dumps({"t": time.time()}), qos=1).wait_for_publish()
            time.sleep(max(0.5, n / 5000))
        pub.loop_stop()

        # an emergency to every loudspeaker, confirmed by a second person
        stack.api.post(
            "/api/users",
            json={"username": "truc-ban", "password": "bench-pass-1", "roles": ["approver"]},
        ).raise_for_status()
        second = stack.api.post("/api/users/truc-ban/tokens", json={}).json()["token"]
        b = stack.api.post(
            "/api/broadcasts",
            json={
                "media_sha256": media["sha256"],
                "targets": ["zone:tinh"],
                "priority": "emergency",
            },
        ).json()
        # the second person confirms seconds later, once the audio is ready on the devices
        # (the prepare command's acks and 'media ready' reports are in)
        time.sleep(3)
        services.ingest.wait_idle(120)
        errors.check(services.ingest)
        time.sleep(1)
        cpu0, broker0 = resource.getrusage(resource.RUSAGE_SELF), cpu_of(broker._proc.pid)
        confirmed = time.time()
        stack.api.post(
            f"/api/broadcasts/{b['id']}/confirm", headers={"Authorization": f"Bearer {second}"}
        ).raise_for_status()

        def played() -> int:
            errors.check(services.ingest)
            with services.sessions() as session:
                return (
                    session.scalar(
                        select(func.count())
                        .select_from(DeviceEvent)
                        .where(
                            DeviceEvent.type == "playback.finished", DeviceEvent.play_id == b["id"]
                        )
                    )
                    or 0
                )

        wait_for(lambda: played() >= n, timeout=600, interval=0.5, what="every play reported")
        services.ingest.wait_idle(60)
        cpu1, broker1 = resource.getrusage(resource.RUSAGE_SELF), cpu_of(broker._proc.pid)
        controller_rss = rss_mb()
        stop.set()
        parts = [out.get(timeout=300) for _ in procs]
        with services.sessions() as session:
            play_cmd = session.scalars(
                select(Command.cmd_id).where(
                    Command.broadcast_id == b["id"], Command.type == "play"
                )
            ).all()
            started = session.scalars(
                select(DeviceEvent).where(
                    DeviceEvent.type == "playback.started", DeviceEvent.play_id == b["id"]
                )
            ).all()
        raw = [x for part in parts for x in part["raw_ms"]]
        verified = [
            (v - confirmed) * 1000
            for part in parts
            for c, _, v in part["verified"]
            if c in set(play_cmd)
        ]
        # a started report as if its device had started at start_at and sent at once: the
        # play's start, plus what the report took from leaving the device to being stored
        sent_at = {e: t for part in parts for e, _, t in part["send_wait_ms"]}
        start_at = started[0].payload["scheduled_start"] if started else None
        lead_ms = (
            (datetime.fromisoformat(start_at).timestamp() - confirmed) * 1000
            if start_at
            else float("nan")
        )
        playing = [
            lead_ms + (e.received_at.timestamp() - sent_at[e.event_id]) * 1000
            for e in started
            if e.event_id in sent_at
        ]
        own = [x for part in parts for x in part["own_ms"]]
        spare = [x for part in parts for x in part["spare_ms"]]
        send_wait = [ms for part in parts for _, ms, _ in part["send_wait_ms"]]
        starts = [a for part in parts for _, a in part["starts"]]
        late = [x for part in parts for x in part["late_ms"]]
        refused = [r for part in parts for r in part["refused"]]
        untimed = sum(part["untimed"] for part in parts)
        resent = sum(len(p["resent"]) for p in parts)
        sim_cpu = sum(part["cpu_s"] for part in parts)
        ctl_cpu = cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime
        wall = time.time() - confirmed

        print(
            f"\nLoa Làng fleet simulator — {n} agents in {len(procs)} processes (event loop), "
            f"{args.db}, Mosquitto, {platform.machine()} {os.cpu_count()} cores, "
            f"{platform.python_implementation()} {platform.python_version()}"
        )
        print(
            f"  registered through the API in {register_s:.1f} s; sessions up in "
            f"{connect_s:.1f} s; played {len(starts)}/{n}; refused {len(refused)}; "
            f"reports unconfirmed at the end {sum(p['unconfirmed'] for p in parts)}, "
            f"sent again {resent}"
        )
        print(
            f"  controller: RSS {controller_rss:.0f} MiB, CPU {ctl_cpu:.1f} s over "
            f"{wall:.1f} s; broker CPU {broker1 - broker0:.1f} s; simulators CPU "
            f"{sim_cpu:.1f} s in all (RSS {max(p['rss_mb'] for p in parts):.0f} MiB each"
            f"{', SCHED_IDLE' if not args.no_idle else ''})"
        )
        print(
            f"  simulators' loop lateness p99 {pct(late, 99):.1f} ms, max {max(late):.0f} ms; "
            f"reports waited in them before sending p50 {pct(send_wait, 50):.1f} / p99 "
            f"{pct(send_wait, 99):.1f} ms (taken off below)"
        )
        # What the harness's own queueing can spoil, and then the figure is refused: a
        # message without the kernel's arrival time, a play verified too late to start,
        # reports sent again (a receipt waited past its timeout behind the simulators)
        if untimed or not spare or min(spare) < 0 or resent:
            print(
                f"  REFUSED: {untimed} messages without the kernel's arrival time, "
                f"{sum(1 for x in spare if x < 0)} plays verified after start_at, {resent} "
                "reports sent again: the harness was the bottleneck; use fewer agents"
            )
            return
        print(
            f"  broker raw fan-out          p50 {pct(raw, 50):7.1f} ms  "
            f"p99 {pct(raw, 99):7.1f} ms  (n={len(raw)})"
        )
        first = min(
            (r - confirmed) * 1000
            for part in parts
            for c, r, _ in part["verified"]
            if c in set(play_cmd)
        )
        print(
            f"  confirmation → the play's first arrival at a device {first:.1f} ms "
            "(the controller's part)"
        )
        print(
            f"  confirmation → verified     p50 {pct(verified, 50):7.1f} ms  "
            f"p99 {pct(verified, 99):7.1f} ms  max {max(verified):.1f} ms  "
            f"(n={len(verified)}; ratio p99/raw p99 "
            f"{pct(verified, 99) / max(pct(raw, 99), 0.001):.1f}x)"
        )
        print(
            f"    of which the device's own work p50 {pct(own, 50):5.2f} ms  p99 "
            f"{pct(own, 99):5.2f} ms (CPU time here); play verified with {min(spare):.0f} ms "
            f"to spare before start_at at least"
        )
        if pct(late, 99) > LOOP_LATE_LIMIT_MS:
            print(
                f"  confirmation → 'playing' stored: REFUSED (the simulators' loops ran "
                f"{pct(late, 99):.0f} ms late: the controller saw the fleet's reports spread"
                " by the harness, not as a fleet sends them)"
            )
        else:
            print(
                f"  confirmation → 'playing' stored p50 {pct(playing, 50):7.1f} ms  "
                f"p99 {pct(playing, 99):7.1f} ms  (the play starts {lead_ms:.0f} ms after "
                "the confirmation: the measured emergency lead)"
            )
        if starts:
            print(
                f"  start skew (max−min) of the simulated outputs: "
                f"{(max(starts) - min(starts)) * 1000:.1f} ms (one clock, the simulators' "
                "timers: the sound card's skew is the real agent's, bench/fanout.py)"
            )
    finally:
        if stop is not None:
            stop.set()
        for p in procs:
            p.join(30)
            if p.is_alive():  # else the interpreter's exit waits for it for good
                p.kill()
        stack.stop()
        broker.stop()
        if pg:
            pg.__exit__(None, None, None)


if __name__ == "__main__":
    main()
