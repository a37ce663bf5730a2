"""A compressed busy day: the controller, its broker and Icecast, and 50 agents in villages behind
real (userspace) links, kept busy for as long as you say, sampled every minute.

Every minute a one-off schedule plays to every loudspeaker (through the plans); every 5 minutes
a text bulletin is spoken and sent to one village; every 15 minutes a relay of a stream plays
for a minute; every 20 minutes a live slot from the line-in runs for a minute; every 10 minutes a
village is silenced with STOP while it plays; every 3 minutes a village's link is cut for 45 s;
half way, the broker is killed with -9 (the controller's supervisor starts it again).

Printed each minute and at the end: resident memory, open files and threads of the controller,
the broker and one agent process (one agent alone), the database's size, log lines (the
controller's warnings, the broker's log, the agents' logs), and the plays each loudspeaker
made against what it should have made: lost, and played twice.

    .venv/bin/python bench/soak.py --minutes 60            # the figure in docs/benchmarks.md
    .venv/bin/python bench/soak.py --minutes 10 --agents 10

Needs root (network namespaces, ``tests/support/villages.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scratch import scratch

from tests.support import agent_group

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


class LineCounter(logging.Handler):
    """The controller's log lines at WARNING and above (it runs in this process)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.by_logger: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        self.by_logger[record.name] += 1


def proc_figures(pid: int | None) -> dict[str, float]:
    """Resident MB, open files and threads of a process (empty if it is gone)."""
    if not pid:
        return {}
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return {}
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "rss_mb": int(fields["VmRSS"].split()[0]) / 1024,
        "fds": fds,
        "threads": int(fields["Threads"]),
    }


def lines_in(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        with contextlib.suppress(OSError), path.open("rb") as fh:
            total += sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    return total


class Soak:
    def __init__(self, args: argparse.Namespace, tmp: Path):
        self.args = args
        self.tmp = tmp
        self.samples: list[dict[str, Any]] = []
        self.stopped: set[tuple[str, str]] = set()  # (village zone, minute play id) silenced
        self.expected: dict[str, set[str]] = {}  # play id → devices that must play it
        self.events: list[str] = []
        self.problems: list[str] = []
        self.lines = LineCounter()
        logging.getLogger().addHandler(self.lines)

    def say(self, text: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {text}"
        self.events.append(line)
        print(line, flush=True)

    # --- the stage ------------------------------------------------------------------------

    def run(self) -> int:
        from tests.support import postgres
        from tests.support.villages import Villages

        with (
            (
                postgres.temp_database()
                if self.args.db == "postgresql"
                else contextlib.nullcontext(None)
            ) as url,
            Villages(self.args.villages, self.args.delay_ms, self.args.loss) as villages,
        ):
            return self._run(villages, url)

    def _run(self, villages: Any, database_url: str | None) -> int:
        from tests.support.audio import make_speech
        from tests.support.mosquitto import free_port
        from tests.support.stack import Stack, wait_for

        host = villages.host_ip
        relay_dir = self.tmp / "relay"
        relay_dir.mkdir()
        subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=330:duration=150",
                "-ac",
                "1",
                "-c:a",
                "libopus",
                "-b:a",
                "24k",
                str(relay_dir / "vov.ogg"),
            ],
            check=True,
        )
        relay_port = free_port()
        relay = _QuietServer((host, relay_port), partial(_QuietHandler, directory=str(relay_dir)))
        threading.Thread(target=relay.serve_forever, daemon=True).start()
        stack = Stack(
            self.tmp,
            free_port(),
            database_url=database_url,
            broker="mosquitto",
            http_host=host,
            mqtt_tls_host=host,
            mqtt_tls_port=free_port(),
            icecast="managed",
            icecast_host=host,
            icecast_port=free_port(),
            live_line_in="-re -f lavfi -i sine=frequency=440",
            live_source_grace_s=20,
            sync_lead_s=5.0,
            missed_grace_s=30.0,
            fleet_sample_s=60,
        ).start()
        procs: list[subprocess.Popen[bytes]] = []
        try:
            devices = self._provision(stack, villages, procs, wait_for)
            sha = stack.upload(make_speech(self.tmp / "minute.wav", "Bản tin thử nghiệm."))
            self._loop(
                stack, villages, devices, sha["sha256"], f"http://{host}:{relay_port}/vov.ogg"
            )
            self._quiesce(stack, devices, wait_for)
            self._check_plays(stack, devices)
        finally:
            agent_group.stop(procs)
            stack.stop()
            relay.shutdown()
        self._report()
        return 1 if self.problems else 0

    def _provision(
        self, stack: Any, villages: Any, procs: list[subprocess.Popen[bytes]], wait_for: Any
    ) -> dict[str, int]:
        stack.add_zone("all")
        for v in range(len(villages)):
            stack.add_zone(f"village-{v}")
        devices: dict[str, int] = {}
        for i in range(self.args.agents):
            device, v = f"loa-{i:03d}", i % len(villages)
            stack.register(device, ["all", f"village-{v}"])
            stack.config_data[device]["health_interval_s"] = 60  # as in the field
            stack.config_data[device]["mqtt"]["keepalive_s"] = 15
            devices[device] = v
        for v, village in enumerate(villages.villages):
            mine = [d for d, dv in devices.items() if dv == v]
            # village 0's first agent runs alone: the footprint of one agent process
            groups = [mine[:1], mine[1:]] if v == 0 else [mine]
            for k, group in enumerate(g for g in groups if g):
                configs = [stack.config_data[d] for d in group]
                path = self.tmp / f"agents-{v}-{k}.json"
                procs.append(agent_group.launch(configs, path, village.command))
        self.agent_pid = procs[0].pid  # ("ip netns exec" execs the agent in place)
        wait_for(
            lambda: (
                sum(d["status"] == "online" for d in stack.api.get("/api/devices").json())
                == len(devices)
            ),
            timeout=300,
            interval=1,
            what="every agent online",
        )
        self.say(f"{len(devices)} agents online in {len(villages)} villages")
        return devices

    # --- the day --------------------------------------------------------------------------

    def _loop(
        self, stack: Any, villages: Any, devices: dict[str, int], sha: str, relay_url: str
    ) -> None:
        a = self.args
        start = time.monotonic()
        end = start + a.minutes * 60
        minute = 0
        cut: tuple[int, float] | None = None
        broker_killed = False
        live: tuple[str, float] | None = None
        rnd = random.Random(7)
        self._sample(stack, 0)
        while time.monotonic() < end:
            elapsed = time.monotonic() - start
            if elapsed >= minute * 60:
                live_now = minute % 20 == 12
                self._minute(stack, villages, devices, sha, relay_url, minute, rnd, live_now)
                if minute % 3 == 1 and cut is None:
                    # after the plan and its audio are there: the play is due while cut off
                    # and must still happen, from the plan on disk
                    cut = (rnd.randrange(len(villages)), time.monotonic() + 15)
                if live_now:
                    r = stack.api.post(
                        "/api/live",
                        json={"targets": ["zone:all"], "title": "Trực tiếp", "source": "line_in"},
                    )
                    if r.status_code == 201:
                        live = (r.json()["broadcast_id"], time.monotonic() + 60)
                        self.say(f"live slot {live[0]} on air")
                    else:
                        self.problems.append(f"live slot refused: {r.text[:200]}")
                if minute > 0:
                    self._sample(stack, minute)
                minute += 1
            if cut is not None and cut[1] > 0 and time.monotonic() >= cut[1]:
                villages[cut[0]].cut()
                self.say(f"village-{cut[0]}'s link cut for 45 s")
                cut = (cut[0], -(time.monotonic() + 45))
            elif cut is not None and cut[1] < 0 and time.monotonic() >= -cut[1]:
                villages[cut[0]].heal()
                self.say(f"village-{cut[0]}'s link back")
                cut = None
            if live is not None and time.monotonic() >= live[1]:
                stack.api.post(f"/api/live/{live[0]}/end")
                self.say(f"live slot {live[0]} ended")
                live = None
            if not broker_killed and elapsed >= a.minutes * 30:
                broker_killed = True
                pid = int((stack.settings.data_dir / "mosquitto" / "mosquitto.pid").read_text())
                os.kill(pid, 9)
                self.say(f"broker killed with -9 (pid {pid})")
            time.sleep(0.5)
        if cut is not None and cut[1] < 0:
            villages[cut[0]].heal()
        if live is not None:
            stack.api.post(f"/api/live/{live[0]}/end")

    def _minute(
        self,
        stack: Any,
        villages: Any,
        devices: dict[str, int],
        sha: str,
        relay_url: str,
        minute: int,
        rnd: random.Random,
        live_now: bool,
    ) -> None:
        """This minute's work; a bulletin due under a live slot is expected to yield to it
        (live outranks normal), so it is not counted as lost."""
        from protocol.messages import utcnow

        due = (utcnow() + timedelta(seconds=40)).replace(microsecond=0)
        local = due.astimezone(HCM)
        name = f"soak-{minute:04d}"
        r = stack.api.put(
            f"/api/schedules/{name}",
            json={
                "name": name,
                "title": f"Bản tin phút {minute}",
                "targets": ["zone:all"],
                "start": local.strftime("%H:%M:%S"),
                "date": local.date().isoformat(),
                "programme": [{"media": sha}],
            },
        )
        if r.status_code not in (200, 202):
            self.problems.append(f"schedule {name} refused: {r.text[:200]}")
        elif not live_now:
            self.expected[f"s-{name}-{local:%Y%m%dT%H%M}"] = set(devices)
        old = f"soak-{minute - 10:04d}"
        if minute >= 10:
            stack.api.delete(f"/api/schedules/{old}")
        if minute % 10 == 5:  # a village silenced while the minute's bulletin plays
            v = rnd.randrange(len(villages))
            play_id = f"s-{name}-{local:%Y%m%dT%H%M}"
            threading.Timer(
                max(0.0, (due - utcnow()).total_seconds() + 1.0),
                self._stop,
                args=(stack, v, play_id),
            ).start()
        if minute % 5 == 2:  # a text bulletin, spoken and sent
            v = rnd.randrange(len(villages))
            job = stack.api.post(
                "/api/speech",
                params={"wait": "true"},
                json={
                    "title": "Thông báo",
                    "parts": [
                        {
                            "language": "vi",
                            "text": f"Thông báo số {minute}: 8h30 sáng mai họp tại nhà văn hoá.",
                        }
                    ],
                },
            )
            if job.status_code == 200 and job.json().get("media"):
                b = stack.api.post(
                    "/api/broadcasts",
                    json={
                        "media_sha256": job.json()["media"]["sha256"],
                        "targets": [f"zone:village-{v}"],
                        "start_at": (utcnow() + timedelta(seconds=15)).isoformat(),
                    },
                )
                if b.status_code != 201:
                    self.problems.append(f"text bulletin refused: {b.text[:200]}")
            else:
                self.problems.append(f"speech failed: {job.text[:200]}")
        if minute % 15 == 8:  # a relay of the "provincial station" for a minute
            r = stack.api.post(
                "/api/relays",
                json={
                    "targets": ["zone:all"],
                    "url": relay_url,
                    "duration_s": 20,
                    "title": "Tiếp sóng",
                    "start_at": (utcnow() + timedelta(seconds=8)).isoformat(),
                },
            )
            if r.status_code != 201:
                self.problems.append(f"relay refused: {r.text[:200]}")

    def _stop(self, stack: Any, village: int, play_id: str) -> None:
        r = stack.api.post(
            "/api/stop", json={"targets": [f"zone:village-{village}"], "reason": "soak"}
        )
        self.stopped.add((f"village-{village}", play_id))
        self.say(f"STOP to village-{village} during {play_id} ({r.status_code})")

    # --- figures --------------------------------------------------------------------------

    def _sample(self, stack: Any, minute: int) -> None:
        data = stack.settings.data_dir
        try:
            broker_pid = int((data / "mosquitto" / "mosquitto.pid").read_text())
        except (OSError, ValueError):
            broker_pid = None
        db = stack.settings.resolved_database_url
        if db.startswith("sqlite"):
            path = Path(db.split("///", 1)[1])
            db_mb = sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20
        else:
            from sqlalchemy import text

            with stack.services.engine.connect() as conn:
                db_mb = (
                    conn.execute(text("SELECT pg_database_size(current_database())")).scalar()
                    / 2**20
                )
        sample = {
            "minute": minute,
            "controller": proc_figures(os.getpid()),
            "broker": proc_figures(broker_pid),
            "agent": proc_figures(self.agent_pid),
            "db_mb": db_mb,
            "controller_lines": self.lines.count,
            "broker_lines": lines_in([data / "mosquitto" / "mosquitto.log"]),
            "agent_lines": lines_in(sorted(self.tmp.glob("agents-*.log"))),
        }
        self.samples.append(sample)
        c, b, g = sample["controller"], sample["broker"], sample["agent"]
        print(
            f"  m{minute:>4}  controller {c.get('rss_mb', 0):6.1f} MB {c.get('fds', 0):4} fd "
            f"{c.get('threads', 0):3} thr | broker {b.get('rss_mb', 0):5.1f} MB "
            f"{b.get('fds', 0):4} fd | agent {g.get('rss_mb', 0):5.1f} MB {g.get('fds', 0):3} "
            f"fd {g.get('threads', 0):3} thr | db {db_mb:6.1f} MB | log lines "
            f"{sample['controller_lines']}/{sample['broker_lines']}/{sample['agent_lines']}",
            flush=True,
        )

    def _quiesce(self, stack: Any, devices: dict[str, int], wait_for: Any) -> None:
        self.say("the day is over: waiting for the last plays and reports")
        time.sleep(90)
        wait_for(
            lambda: (
                sum(d["status"] == "online" for d in stack.api.get("/api/devices").json())
                == len(devices)
            ),
            timeout=180,
            interval=1,
            what="every agent online",
        )
        stack.services.ingest.wait_idle(60)
        time.sleep(30)  # outboxes flushed
        stack.services.ingest.wait_idle(60)

    def _check_plays(self, stack: Any, devices: dict[str, int]) -> None:
        played: dict[str, Counter[str]] = {}
        for device in devices:
            metas = [
                json.loads(p.read_text()) for p in stack.configs[device].output_dir.glob("*.json")
            ]
            played[device] = Counter(m["play_id"] for m in metas)
        lost, doubled = [], []
        for device, counts in played.items():
            doubled += [f"{device} {p} ×{n}" for p, n in counts.items() if n > 1]
        for play_id, who in self.expected.items():
            for device in who:
                zone = f"village-{devices[device]}"
                if (zone, play_id) in self.stopped:
                    continue  # silenced on purpose (it may have started before the STOP)
                if played[device][play_id] == 0:
                    lost.append(f"{device} {play_id}")
        from sqlalchemy import select

        from controller.db.models import DeviceEvent

        with stack.services.sessions() as session:
            security = session.scalars(
                select(DeviceEvent).where(DeviceEvent.type == "security")
            ).all()
        self.result = {
            "expected": sum(len(v) for v in self.expected.values()),
            "lost": lost,
            "doubled": doubled,
            "security": len(security),
        }
        for e in security[:10]:
            self.problems.append(f"security event from {e.device_id}: {e.payload}")
        if doubled:
            self.problems.append(f"played twice: {doubled[:10]}")
        if lost:
            self.problems.append(f"{len(lost)} plays lost: {lost[:10]}")

    def _report(self) -> None:
        a = self.args
        first, last = (
            self.samples[1] if len(self.samples) > 1 else self.samples[0],
            self.samples[-1],
        )
        hours = max(1e-9, (last["minute"] - first["minute"]) / 60)

        def growth(part: str, key: str) -> str:
            x0, x1 = first[part].get(key, 0), last[part].get(key, 0)
            return f"{x0:.1f} → {x1:.1f} ({(x1 - x0) / hours:+.1f}/h)"

        r = getattr(self, "result", {})
        lines = last["controller_lines"] + last["broker_lines"] + last["agent_lines"]
        db_rate = (last["db_mb"] - first["db_mb"]) / hours
        print(f"""
Loa Làng soak — {a.minutes} min, {a.agents} agents in {a.villages} villages ({a.delay_ms:.0f} ms,
{a.loss:.0%} loss each way), {a.db}, {platform.machine()} {os.cpu_count()} cores
(growth measured from minute {first["minute"]} to {last["minute"]})
  controller RSS MB   {growth("controller", "rss_mb")}
  controller fds      {growth("controller", "fds")}
  controller threads  {growth("controller", "threads")}
  broker RSS MB       {growth("broker", "rss_mb")}
  broker fds          {growth("broker", "fds")}
  agent RSS MB        {growth("agent", "rss_mb")}
  agent fds           {growth("agent", "fds")}
  agent threads       {growth("agent", "threads")}
  database MB         {first["db_mb"]:.1f} → {last["db_mb"]:.1f} ({db_rate:+.1f}/h)
  log lines           controller {last["controller_lines"]}, broker {last["broker_lines"]},
                      agents {last["agent_lines"]} ({lines / hours:.0f}/h)
  plays               {r.get("expected", 0)} due, {len(r.get("lost", []))} lost,
                      {len(r.get("doubled", []))} doubled, {r.get("security", 0)} security events
  controller warnings by logger: {dict(self.lines.by_logger.most_common(8))}
""")
        for problem in self.problems:
            print(f"PROBLEM: {problem}")


class _QuietServer(ThreadingHTTPServer):
    """The bench's relay source: an agent dropping its download on a flapped link is part of
    the day, not a traceback."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--villages", type=int, default=5)
    parser.add_argument("--delay-ms", type=float, default=80, help="one way")
    parser.add_argument("--loss", type=float, default=0.01, help="each way, 0..1")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, format="%(asctime)s %(name)s: %(message)s")
    from tests.support import villages

    if (why := villages.available()) is not None:
        print(f"cannot run: {why}")
        return 2
    # a kill (SIGTERM) unwinds like Ctrl-C: villages, agents and broker are cleaned up
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = scratch("loalang-soak-")
    print(f"soak in {tmp}", flush=True)
    return Soak(args, tmp).run()


if __name__ == "__main__":
    sys.exit(main())
