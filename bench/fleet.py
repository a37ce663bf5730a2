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
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import resource
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LOOP_LATE_LIMIT_MS = 50.0
"""A simulator whose loop ran later than this (p99) measured itself: its figures are refused."""


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))]


# --- the simulated agent ----------------------------------------------------------------------


class SimAgent:
    """One loudspeaker: its MQTT session on the shared event loop, its real state file."""

    def __init__(self, loop: asyncio.AbstractEventLoop, config: dict[str, Any],
                 results: dict[str, list[Any]]):
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
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.device_id,
                                  clean_session=False, protocol=mqtt.MQTTv311)
        if m.username:
            self.client.username_pw_set(m.username, m.password)
        self.status_topic = topics.device_topic(self.device_id, "status")
        self.client.will_set(self.status_topic, self._status(False), qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_socket_open = self._socket_open
        self.client.on_socket_close = self._socket_close
        self.client.on_socket_register_write = lambda c, u, s: loop.add_writer(s, c.loop_write)
        self.client.on_socket_unregister_write = lambda c, u, s: loop.remove_writer(s)
        self.subscriptions = [*topics.agent_subscriptions(self.device_id, self.state.zones),
                              topics.device_topic(self.device_id, "receipt"), "bench/ping"]

    def _status(self, online: bool) -> bytes:
        from protocol.messages import DeviceState, StatusMessage, encode, utcnow

        return encode(StatusMessage(device_id=self.device_id, ts=utcnow(), version="sim",
                                    state=DeviceState.online if online else
                                    DeviceState.offline, capabilities=["output:null"]))

    # paho on an asyncio loop (paho's own external-loop callbacks)
    def _socket_open(self, client: Any, userdata: Any, sock: Any) -> None:
        self.loop.add_reader(sock, client.loop_read)
        self._misc = self.loop.create_task(self._misc_loop())

    def _socket_close(self, client: Any, userdata: Any, sock: Any) -> None:
        self.loop.remove_reader(sock)
        self._misc.cancel()

    async def _misc_loop(self) -> None:
        import paho.mqtt.client as mqtt

        while self.client.loop_misc() == mqtt.MQTT_ERR_SUCCESS:
            await asyncio.sleep(1)

    def start(self) -> None:
        m = self.config.mqtt
        self.client.connect(m.host, m.port, keepalive=60)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        client.subscribe([(t, 1) for t in self.subscriptions])
        client.publish(self.status_topic, self._status(True), qos=1, retain=True)
        self.connected.set()

    def report(self, kind: str, model: Any) -> None:
        from protocol import topics
        from protocol.messages import encode

        topic, payload = topics.device_topic(self.device_id, kind), encode(model)
        self.pending[model.event_id] = (topic, payload, time.monotonic())
        self.client.publish(topic, payload, qos=1)

    def resend(self, older_than_s: float = 20.0) -> None:
        now = time.monotonic()
        for event_id, (topic, payload, sent) in list(self.pending.items()):
            if now - sent > older_than_s:
                self.pending[event_id] = (topic, payload, now)
                self.client.publish(topic, payload, qos=1)
                self.results["resent"].append(1)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
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

        now = utcnow()
        try:
            command = verify(raw, keys=self.keys, device_id=self.device_id,
                             zones=set(self.state.zones), last_seq=self.state.last_seq,
                             last_cmd=self.state.last_cmd, now=now)
        except Rejected as rej:
            self.results["refused"].append(rej.reason)
            return
        body = command.body
        play = body if isinstance(body, PlayCommand) else None
        new = self.state.accept(command.target, command.seq, play.play_id if play else None,
                                play.start_at if play else None, now, command.cmd_id)
        verified = time.time()
        self.results["verified"].append((command.cmd_id, received, verified))
        self.report("ack", AckMessage(event_id=uuid.uuid4().hex, device_id=self.device_id,
                                      cmd_id=command.cmd_id, ts=utcnow(), accepted=True,
                                      play_id=play.play_id if play else None))
        if play is not None and new:
            delay = max(0.0, play.start_at.timestamp() - time.time())
            self.loop.call_later(delay, self._start, play)

    def _start(self, play: Any) -> None:
        """The null output: the play 'starts' now; report started, then finished."""
        from datetime import timedelta

        from protocol.messages import PlaybackFinishedEvent, PlaybackStartedEvent, utcnow

        actual = utcnow()
        self.results["starts"].append((play.start_at.timestamp(), actual.timestamp()))
        common = dict(device_id=self.device_id, play_id=play.play_id,
                      broadcast_id=play.broadcast_id, scheduled_start=play.start_at,
                      actual_start=actual)
        self.report("event", PlaybackStartedEvent(event_id=uuid.uuid4().hex, ts=actual,
                                                  **common))
        duration_s = (play.media.duration_ms if play.media else 1000) / 1000

        def finish() -> None:
            end = utcnow()
            self.report("event", PlaybackFinishedEvent(
                event_id=uuid.uuid4().hex, ts=end, actual_end=end,
                played_ms=int((end - actual) / timedelta(milliseconds=1)), **common))
        self.loop.call_later(duration_s, finish)


def sim_worker(configs: list[dict[str, Any]], ready: Any, stop: Any, out: Any) -> None:
    """One process: its share of the fleet on one event loop; reports what it measured."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    loop = asyncio.new_event_loop()
    results: dict[str, list[Any]] = {k: [] for k in ("raw_ms", "verified", "starts", "refused",
                                                     "resent", "late_ms")}

    async def run() -> None:
        agents = [SimAgent(loop, c, results) for c in configs]
        for i, agent in enumerate(agents):
            agent.start()
            if i % 50 == 49:
                await asyncio.sleep(0.05)  # let the loop serve what connected so far
        await asyncio.wait_for(asyncio.gather(*(a.connected.wait() for a in agents)), 600)
        ready.put(len(agents))
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
        for agent in agents:
            agent.client.disconnect()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        out.put(dict(results, unconfirmed=unconfirmed,
                     cpu_s=usage.ru_utime + usage.ru_stime, rss_mb=usage.ru_maxrss / 1024))

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
    ap.add_argument("--state-dir", type=Path, default=Path("/dev/shm") if Path("/dev/shm")
                    .is_dir() else None, help="where simulated agents keep their state")
    args = ap.parse_args()

    import tomllib

    import paho.mqtt.client as mqtt
    from sqlalchemy import func, select

    from controller.db.models import Command, Device, DeviceEvent
    from tests.support import postgres
    from tests.support.audio import make_speech
    from tests.support.mosquitto import Mosquitto
    from tests.support.stack import Stack, wait_for

    n = args.agents
    tmp = Path(tempfile.mkdtemp(prefix="loalang-fleet-"))
    state_root = Path(tempfile.mkdtemp(prefix="loalang-fleet-agents-", dir=args.state_dir))
    broker = Mosquitto(tmp / "mosquitto").start()
    pg = postgres.temp_database() if args.db == "postgresql" else None
    url = pg.__enter__() if pg else None
    stack = Stack(tmp, broker.port, database_url=url, sync_lead_s=2.0, missed_grace_s=5,
                  fleet_sample_s=3600).start()
    services = stack.services
    assert services is not None
    procs: list[Any] = []
    stop = None
    try:
        stack.add_zone("tinh")
        began = time.monotonic()

        def register(i: int) -> dict[str, Any]:
            r = stack.api.post("/api/devices", json={"id": f"loa-{i:05d}", "name": f"sim {i}",
                                                     "zones": ["tinh"], "output": "file"})
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
        groups = [configs[i:i + args.per_process] for i in range(0, n, args.per_process)]
        began = time.monotonic()
        procs = [ctx.Process(target=sim_worker, args=(g, ready, stop, out)) for g in groups]
        for p in procs:
            p.start()
        for _ in procs:
            ready.get(timeout=900)
        connect_s = time.monotonic() - began

        def online() -> int:
            with services.sessions() as session:
                return session.scalar(select(func.count()).select_from(Device).where(
                    Device.status == "online")) or 0
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
        stack.api.post("/api/users", json={"username": "truc-ban", "password": "bench-pass-1",
                                           "roles": ["approver"]}).raise_for_status()
        second = stack.api.post("/api/users/truc-ban/tokens", json={}).json()["token"]
        b = stack.api.post("/api/broadcasts", json={"media_sha256": media["sha256"],
                                                    "targets": ["zone:tinh"],
                                                    "priority": "emergency"}).json()
        cpu0, broker0 = resource.getrusage(resource.RUSAGE_SELF), cpu_of(broker._proc.pid)
        confirmed = time.time()
        stack.api.post(f"/api/broadcasts/{b['id']}/confirm",
                       headers={"Authorization": f"Bearer {second}"}).raise_for_status()

        def played() -> int:
            with services.sessions() as session:
                return session.scalar(select(func.count()).select_from(DeviceEvent).where(
                    DeviceEvent.type == "playback.finished",
                    DeviceEvent.play_id == b["id"])) or 0
        wait_for(lambda: played() >= n, timeout=600, interval=0.5, what="every play reported")
        services.ingest.wait_idle(60)
        cpu1, broker1 = resource.getrusage(resource.RUSAGE_SELF), cpu_of(broker._proc.pid)
        controller_rss = rss_mb()
        stop.set()
        parts = [out.get(timeout=300) for _ in procs]
        with services.sessions() as session:
            play_cmd = session.scalars(select(Command.cmd_id).where(
                Command.broadcast_id == b["id"])).all()
            started = session.scalars(select(DeviceEvent).where(
                DeviceEvent.type == "playback.started", DeviceEvent.play_id == b["id"])).all()
        raw = [x for part in parts for x in part["raw_ms"]]
        verified = [(v - confirmed) * 1000 for part in parts for c, _, v in part["verified"]
                    if c in set(play_cmd)]
        playing = [(e.received_at.timestamp() - confirmed) * 1000 for e in started]
        starts = [a for part in parts for _, a in part["starts"]]
        late = [x for part in parts for x in part["late_ms"]]
        refused = [r for part in parts for r in part["refused"]]
        sim_cpu = sum(part["cpu_s"] for part in parts)
        ctl_cpu = cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime
        wall = time.time() - confirmed

        print(f"\nLoa Làng fleet simulator — {n} agents in {len(procs)} processes (event loop), "
              f"{args.db}, Mosquitto, {platform.machine()} {os.cpu_count()} cores, "
              f"{platform.python_implementation()} {platform.python_version()}")
        print(f"  registered through the API in {register_s:.1f} s; sessions up in "
              f"{connect_s:.1f} s; played {len(starts)}/{n}; refused {len(refused)}; "
              f"reports unconfirmed at the end {sum(p['unconfirmed'] for p in parts)}, "
              f"sent again {sum(len(p['resent']) for p in parts)}")
        print(f"  controller: RSS {controller_rss:.0f} MiB, CPU {ctl_cpu:.1f} s over "
              f"{wall:.1f} s; broker CPU {broker1 - broker0:.1f} s; simulators CPU "
              f"{sim_cpu:.1f} s in all (RSS {max(p['rss_mb'] for p in parts):.0f} MiB each)")
        if pct(late, 99) > LOOP_LATE_LIMIT_MS:
            print(f"  REFUSED: the simulators' event loops ran {pct(late, 99):.0f} ms late (p99):"
                  " the harness was the bottleneck; use more processes or fewer agents")
            return
        print(f"  simulators' loop lateness p99 {pct(late, 99):.1f} ms (limit "
              f"{LOOP_LATE_LIMIT_MS:.0f})")
        print(f"  broker raw fan-out          p50 {pct(raw, 50):7.1f} ms  "
              f"p99 {pct(raw, 99):7.1f} ms  (n={len(raw)})")
        print(f"  confirmation → verified     p50 {pct(verified, 50):7.1f} ms  "
              f"p99 {pct(verified, 99):7.1f} ms  (n={len(verified)}; ratio p99/raw p99 "
              f"{pct(verified, 99) / max(pct(raw, 99), 0.001):.1f}x)")
        print(f"  confirmation → 'playing' stored p50 {pct(playing, 50):7.1f} ms  "
              f"p99 {pct(playing, 99):7.1f} ms  (includes the sync lead)")
        if starts:
            print(f"  start skew (max−min)        {(max(starts) - min(starts)) * 1000:7.1f} ms")
    finally:
        if stop is not None:
            stop.set()
        for p in procs:
            p.join(30)
        stack.stop()
        broker.stop()
        if pg:
            pg.__exit__(None, None, None)


if __name__ == "__main__":
    main()
