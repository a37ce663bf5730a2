"""Two controllers on one PostgreSQL and one broker: one leads (scheduler, plans, ingest), both
serve HTTP and send; the leader killed with ``-9`` hands over within seconds, with nothing
sent twice, nothing lost, and sequence numbers in order across both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from controller.db.models import Command
from edge_agent.agent import Agent
from edge_agent.config import AgentConfig
from protocol.messages import utcnow
from tests.support import postgres
from tests.support.mosquitto import free_port
from tests.support.stack import wait_for

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "two-controllers-test-token-0123456789"


class ControllerProcess:
    """``loalang controller`` in its own process (so that it can be killed with -9)."""

    def __init__(self, name: str, tmp: Path, env: dict[str, str]):
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"{name}.log"
        self.env = {
            **os.environ,
            **env,
            "LOALANG_CONTROLLER_ID": name,
            "LOALANG_DATA_DIR": str(tmp / name),
            "LOALANG_HTTP_PORT": str(self.port),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.api = httpx.Client(
            base_url=self.url, timeout=60, headers={"Authorization": f"Bearer {TOKEN}"}
        )

    def start(self) -> ControllerProcess:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(Path(sys.executable).parent / "loalang"), "controller", "-v"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self.health, 60, what=f"controller {self.name} serving")
        return self

    def health(self) -> dict[str, Any] | None:
        try:
            return self.api.get("/healthz").json()
        except httpx.HTTPError:
            return None

    def leads(self) -> bool:
        health = self.health()
        return bool(health and health["leader"])

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def pg_url() -> Any:
    if not postgres.available():
        pytest.fail(f"PostgreSQL not reachable at {postgres.ADMIN_URL}")
    with postgres.temp_database() as url:
        yield url


def test_two_controllers_one_leads_and_the_other_takes_over_when_it_is_killed(
    tmp_path, mosquitto, pg_url, speech_wav
):
    serving_port = free_port()
    env = {
        "LOALANG_DATABASE_URL": pg_url,
        "LOALANG_SHARED_DIR": str(tmp_path / "shared"),
        "LOALANG_MQTT_PORT": str(mosquitto.port),
        "LOALANG_BROKER": "external",
        "LOALANG_API_TOKEN": TOKEN,
        "LOALANG_HTTPS_PORT": "0",
        "LOALANG_ICECAST": "off",
        "LOALANG_SYNC_LEAD_S": "2",
        "LOALANG_MISSED_GRACE_S": "2",
        "LOALANG_PREFETCH_LEAD_S": "3",
        "LOALANG_LEADER_POLL_S": "0.5",
        # media is fetched from the one that stays (a load balancer's job in a province)
        "LOALANG_PUBLIC_URL": f"http://127.0.0.1:{serving_port}",
    }
    a = ControllerProcess("ctl-a", tmp_path, env).start()
    wait_for(a.leads, 20, what="the first controller leading")
    b = ControllerProcess("ctl-b", tmp_path, env)
    b.port, b.url = serving_port, f"http://127.0.0.1:{serving_port}"
    b.env["LOALANG_HTTP_PORT"] = str(serving_port)
    b.api = httpx.Client(base_url=b.url, timeout=60, headers={"Authorization": f"Bearer {TOKEN}"})
    b.start()
    agents: list[Agent] = []
    configs: dict[str, AgentConfig] = {}
    try:
        assert a.leads(), "exactly one controller leads"
        assert not b.leads(), "exactly one controller leads"

        # provisioning through the follower: its plan changes reach the leader
        assert (
            b.api.post("/api/zones", json={"id": "thon-dong", "name": "Thôn Đông"}).status_code
            == 201
        )
        for device_id in ("loa-1", "loa-2"):
            r = b.api.post(
                "/api/devices",
                json={"id": device_id, "name": device_id, "zones": ["thon-dong"], "output": "file"},
            )
            assert r.status_code == 201, r.text
            data = tomllib.loads(r.json()["config_toml"])
            data["data_dir"] = str(tmp_path / "agents" / device_id)
            data["health_interval_s"] = 5
            data["mqtt"]["reconnect_max_s"] = 2.0
            configs[device_id] = AgentConfig.from_dict(data)
            agent = Agent(configs[device_id])
            agent.start()
            agents.append(agent)
        for agent in agents:
            wait_for(lambda agent=agent: agent.link.connected.is_set(), what="agent connected")
            wait_for(
                lambda agent=agent: agent.plans.path.exists(), 30, what="a plan from the leader"
            )
        with speech_wav.open("rb") as fh:
            media = b.api.post("/api/media", files={"file": ("tin.wav", fh)}).json()

        # commands from both controllers to one loudspeaker, at once: one sequence
        failures: list[str] = []

        def volumes(ctl: ControllerProcess, levels: range) -> None:
            for level in levels:
                r = ctl.api.put("/api/devices/loa-1/volume", json={"level": level})
                if r.status_code != 200:
                    failures.append(f"{ctl.name}: {r.status_code} {r.text}")

        threads = [
            threading.Thread(target=volumes, args=(a, range(40, 60))),
            threading.Thread(target=volumes, args=(b, range(60, 80))),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []

        first = _broadcast(b, media["sha256"], seconds=4)
        _wait_states(b, first, {"played"}, 40)
        # released on the leader, due after it is gone
        later = _broadcast(a, media["sha256"], seconds=14)

        a.kill()
        killed = time.monotonic()
        wait_for(b.leads, 20, interval=0.1, what="the follower taking the lead")
        print(f"\nhandover after kill -9: {time.monotonic() - killed:.2f} s")  # (a figure)

        _wait_states(b, later, {"played"}, 60)
        stop_after = _broadcast(b, media["sha256"], seconds=4)
        _wait_states(b, stop_after, {"played"}, 40)
        time.sleep(2)

        engine = create_engine(pg_url)
        with Session(engine) as session:
            for broadcast_id in (first, later, stop_after):
                sent = session.scalars(
                    select(Command).where(Command.broadcast_id == broadcast_id)
                ).all()
                assert len(sent) == 1, f"{broadcast_id} sent {len(sent)} times"
            for target in ("device:loa-1", "zone:thon-dong"):
                rows = session.scalars(
                    select(Command).where(Command.target == target).order_by(Command.issued_at)
                ).all()
                seqs = [r.seq for r in rows]
                assert seqs == sorted(seqs), target
                assert len(set(seqs)) == len(seqs), target
        engine.dispose()
        for device_id in configs:
            played = sorted(configs[device_id].output_dir.glob("*.wav"))
            assert len(played) == 3, f"{device_id} played {len(played)} of 3"
        events = b.api.get("/api/events", params={"limit": 500}).json()
        finished = [e for e in events if e["type"] == "playback.finished"]
        assert len(finished) == 6
        assert len({e["event_id"] for e in finished}) == 6
        refused = [e for e in events if e["type"].startswith("security")]
        assert refused == [], f"an agent refused a command: {refused}"
        assert b.health()["mqtt"]
    finally:
        for agent in agents:
            agent.stop()
        b.stop()
        a.stop()


def _broadcast(ctl: ControllerProcess, sha: str, seconds: float) -> str:
    r = ctl.api.post(
        "/api/broadcasts",
        json={
            "media_sha256": sha,
            "targets": ["zone:thon-dong"],
            "start_at": (utcnow() + timedelta(seconds=seconds)).isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _wait_states(
    ctl: ControllerProcess, broadcast_id: str, states: set[str], timeout: float
) -> None:
    def done() -> bool:
        b = ctl.api.get(f"/api/broadcasts/{broadcast_id}").json()
        return all(d["state"] in states for d in b["deliveries"])

    wait_for(done, timeout, interval=0.3, what=f"{broadcast_id} in {states}")
