"""A running system for tests: real controller over real HTTP, real broker, in-process agents."""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
import time
import tomllib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from controller.app import create_app
from controller.container import Services
from controller.db.session import make_engine, migrate
from controller.server import ServerThread
from controller.settings import Settings
from edge_agent.agent import Agent
from edge_agent.config import AgentConfig

from .mosquitto import free_port

STATION_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 20.0,
    interval: float = 0.1,
    what: str = "condition",
) -> Any:
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


_schema: list[Path] = []


def migrated_database() -> Path:
    """An empty SQLite station database at the newest revision, made once per test process:
    each stack starts from a copy (its controller still migrates, and finds nothing to do)
    instead of running every migration again (0.3-0.5 s of CPU a test)."""
    if not _schema:
        path = Path(tempfile.mkdtemp(prefix="loalang-schema-")) / "loalang.db"
        atexit.register(shutil.rmtree, path.parent, True)
        engine = make_engine(f"sqlite:///{path}")
        migrate(engine)
        engine.dispose()
        _schema.append(path)
    return _schema[0]


class Stack:
    def __init__(self, tmp: Path, mqtt_port: int, database_url: str | None = None, **settings: Any):
        self.tmp = tmp
        if database_url is None:
            (tmp / "controller").mkdir(parents=True, exist_ok=True)
            if not (tmp / "controller" / "loalang.db").exists():
                shutil.copyfile(migrated_database(), tmp / "controller" / "loalang.db")
        self.http_port = free_port()
        defaults: dict[str, Any] = dict(
            sync_lead_s=2.0, missed_grace_s=2.0, prefetch_lead_s=10, icecast="off"
        )
        defaults.update(settings)
        self.settings = Settings(
            data_dir=tmp / "controller",
            http_port=self.http_port,
            mqtt_port=mqtt_port,
            database_url=database_url,
            **defaults,
        )
        self.services: Services | None = None
        self.server: ServerThread | None = None
        self.agents: dict[str, Agent] = {}
        self.configs: dict[str, AgentConfig] = {}
        self.config_data: dict[str, dict[str, Any]] = {}  # as registered, for other processes

    @property
    def base_url(self) -> str:
        return self.settings.resolved_public_url

    def restart_controller(self) -> None:
        """Stop the controller and start a new one on the same data, database and port."""
        self.stop_controller()
        self.start()

    def start(self) -> Stack:
        for attempt in range(3):
            self.services = Services(self.settings)
            self.services.start()
            self.server = ServerThread(
                create_app(services=self.services), self.settings.http_host, self.http_port
            )
            try:
                self.server.start()
                break
            except RuntimeError:
                # free_port() is check-then-use: another process may have taken the port
                self.services.stop()
                if attempt == 2:
                    raise
                self.http_port = free_port()
                self.settings = self.settings.model_copy(update={"http_port": self.http_port})
        self.api = httpx.Client(
            base_url=self.base_url,
            timeout=120,
            headers={"Authorization": f"Bearer {self.services.api_token}"},
        )
        return self

    def stop_controller(self) -> None:
        if self.server:
            self.server.stop()
            self.server = None
        if self.services:
            self.services.stop()
            self.services = None

    def stop(self) -> None:
        for agent in self.agents.values():
            agent.stop()
        self.agents.clear()
        self.stop_controller()

    # --- provisioning ---------------------------------------------------------------------

    def add_zone(self, zone_id: str, name: str | None = None) -> None:
        r = self.api.post("/api/zones", json={"id": zone_id, "name": name or zone_id})
        assert r.status_code == 201, r.text

    def register(
        self,
        device_id: str,
        zones: list[str],
        mqtt_port: int | None = None,
        kind: str = "cluster",
        **overrides: Any,
    ) -> AgentConfig:
        """Register through the API and make the agent's config (``mqtt_port``: another node
        of a clustered broker than the controller's)."""
        r = self.api.post(
            "/api/devices",
            json={
                "id": device_id,
                "name": f"{'Máy thu' if kind == 'receiver' else 'Cụm loa'} {device_id}",
                "zones": zones,
                "output": "file",
                "kind": kind,
            },
        )
        assert r.status_code == 201, r.text
        data = tomllib.loads(r.json()["config_toml"])
        if kind == "receiver":  # its buttons' control on any free port (tests run side by side)
            data["receiver"]["control_port"] = 0
        data["data_dir"] = str(self.tmp / "agents" / device_id)
        data["health_interval_s"] = 5
        # Tests stop brokers for tens of seconds; they check what arrives, not the backoff.
        data["mqtt"]["reconnect_max_s"] = 2.0
        if mqtt_port is not None:
            data["mqtt"]["port"] = mqtt_port
        data.update(overrides)
        config = AgentConfig.from_dict(data)
        self.configs[device_id] = config
        self.config_data[device_id] = data
        return config

    def start_agent(self, device_id: str) -> Agent:
        agent = Agent(self.configs[device_id])
        agent.start()
        self.agents[device_id] = agent
        wait_for(lambda: agent.link.connected.is_set(), what=f"{device_id} connected")
        return agent

    def output_files(self, device_id: str) -> list[Path]:
        out = self.configs[device_id].output_dir
        return sorted(out.glob("*.wav")) if out.exists() else []

    def last_play_end(self, device_id: str) -> datetime | None:
        """When the device's sound card got its last sample (the file output's sidecar of its
        newest play), or None while it plays or before it played."""
        metas = sorted(self.configs[device_id].output_dir.glob("*.json"))
        end = json.loads(metas[-1].read_text()).get("actual_end") if metas else None
        return datetime.fromisoformat(end) if end else None

    # --- API helpers ----------------------------------------------------------------------

    def upload(self, path: Path, title: str = "") -> dict[str, Any]:
        with path.open("rb") as fh:
            r = self.api.post(
                "/api/media",
                files={"file": (path.name, fh)},
                data={"title": title} if title else {},
            )
        assert r.status_code in (200, 201), r.text
        return r.json()

    def broadcast(self, sha: str, targets: list[str], **extra: Any) -> dict[str, Any]:
        r = self.api.post(
            "/api/broadcasts", json={"media_sha256": sha, "targets": targets, **extra}
        )
        assert r.status_code == 201, r.text
        return r.json()

    def schedule_once(
        self, name: str, title: str, targets: list[str], start: datetime, programme: list[dict]
    ) -> httpx.Response:
        """Replace the routine with one schedule that plays ``programme`` once at ``start``,
        written in the station's time as a person would (to the second)."""
        local = start.replace(microsecond=0).astimezone(STATION_TZ)
        return self.api.put(
            "/api/schedules",
            json={
                "timezone": STATION_TZ.key,
                "schedules": [
                    {
                        "name": name,
                        "title": title,
                        "targets": targets,
                        "start": local.strftime("%H:%M:%S"),
                        "date": local.date().isoformat(),
                        "programme": programme,
                    }
                ],
            },
        )

    def get_broadcast(self, broadcast_id: str) -> dict[str, Any]:
        r = self.api.get(f"/api/broadcasts/{broadcast_id}")
        assert r.status_code == 200, r.text
        return r.json()

    def wait_states(
        self, broadcast_id: str, states: set[str], timeout: float = 30
    ) -> dict[str, Any]:
        seen: list[Any] = []

        def done() -> dict[str, Any] | None:
            r = self.api.get(f"/api/broadcasts/{broadcast_id}")
            if r.status_code == 404:  # a schedule's play: its row appears when it fires
                return None
            assert r.status_code == 200, r.text
            b = r.json()
            seen[:] = [(d["device_id"], d["state"], d.get("reason")) for d in b["deliveries"]]
            return b if all(d["state"] in states for d in b["deliveries"]) else None

        try:
            return wait_for(done, timeout, what=f"deliveries of {broadcast_id} in {states}")
        except AssertionError as exc:  # say where each delivery stood
            raise AssertionError(f"{exc}; deliveries were {seen}") from None

    def person(self, username: str, *roles: str) -> httpx.Client:
        """An account with ``roles`` (created by the bootstrap admin) and a client using its
        token."""
        r = self.api.post(
            "/api/users",
            json={
                "username": username,
                "roles": list(roles),
                "password": f"{username}-secret-pw",
                "display_name": username.title(),
            },
        )
        assert r.status_code == 201, r.text
        token = self.api.post(f"/api/users/{username}/tokens", json={"name": "test"}).json()
        return httpx.Client(
            base_url=self.base_url,
            timeout=120,
            headers={"Authorization": f"Bearer {token['token']}"},
        )

    def signed_for(self, play_id: str) -> list[str]:
        """What the controller signed that names ``play_id``: its commands (any state) and the
        plans that hold it. Empty means no loudspeaker can ever play it, whatever the timing."""
        from sqlalchemy import select

        from controller.db.models import Command, DevicePlan

        assert self.services is not None
        with self.services.sessions() as session:
            commands = [
                f"{c.type}:{c.target}:{c.state}"
                for c in session.scalars(select(Command).where(Command.broadcast_id == play_id))
            ]
            plans = [
                f"plan:{p.device_id}"
                for p in session.scalars(select(DevicePlan))
                if p.data and play_id.encode() in p.data
            ]
        return commands + plans

    def alarms(self, **params: Any) -> list[dict[str, Any]]:
        r = self.api.get("/api/alarms", params=params)
        assert r.status_code == 200, r.text
        return r.json()

    def events(self, **params: Any) -> list[dict[str, Any]]:
        r = self.api.get("/api/events", params=params)
        assert r.status_code == 200, r.text
        return r.json()
