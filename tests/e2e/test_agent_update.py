"""Signed agent updates end to end: real wheels built from this tree, agents running from
release virtualenvs as on a Pi (real processes), a rollout in waves through the API.

A good release reaches three agents (same process: the agent execs into it); a release that
cannot reach the broker is left by the agent on its own within its confirmation time, and the
rollout stops before any other device gets it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mosquitto import Mosquitto
from tests.support.releases import build_wheel, dependencies_site, first_release
from tests.support.stack import Stack, wait_for

pytestmark = pytest.mark.e2e

BASE, GOOD, BROKEN = "0.9.0", "0.9.1", "0.9.2"
DEVICES = ("loa-a", "loa-b", "loa-c")


def _never_connects(src: Path) -> None:
    """A release whose link dials a port nothing listens on: it starts, passes its check,
    and never comes online."""
    link = src / "edge_agent" / "link.py"
    text = link.read_text()
    dial = "self.config.host, self.config.port, keepalive=self.config.keepalive_s"
    assert dial in text
    link.write_text(text.replace(dial, "self.config.host, 9, keepalive=self.config.keepalive_s"))


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("releases")
    return {
        BASE: build_wheel(BASE, work),
        GOOD: build_wheel(GOOD, work),
        BROKEN: build_wheel(BROKEN, work, patch=_never_connects),
        "deps": dependencies_site(work / "deps"),
    }


class PiAgent:
    """An agent installed as install.sh leaves a Pi: releases/current, run as a process."""

    def __init__(self, stack: Stack, device_id: str, wheels: dict[str, Path]):
        r = stack.api.post(
            "/api/devices",
            json={"id": device_id, "name": device_id, "zones": ["thon-dong"], "output": "file"},
        )
        assert r.status_code == 201, r.text
        self.data = stack.tmp / "agents" / device_id
        text = r.json()["config_toml"].replace(
            'data_dir = "/var/lib/loalang-agent"', f'data_dir = "{self.data}"'
        )
        text = text.replace("[mqtt]\n", "[mqtt]\nflush_jitter_s = 0.2\nreconnect_max_s = 2.0\n")
        self.config = stack.tmp / f"{device_id}.toml"
        self.config.write_text(text)
        self.releases = first_release(self.data / "releases", wheels[BASE], BASE, wheels["deps"])
        self.log = (stack.tmp / f"{device_id}.log").open("wb")
        self.proc = subprocess.Popen(
            [
                str(self.releases.current / "bin" / "loalang-agent"),
                "run",
                "--config",
                str(self.config),
            ],
            cwd=stack.tmp,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        )

    def current(self) -> str:
        return self.releases.current.resolve().name

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture
def fleet(tmp_path: Path, mosquitto: Mosquitto, wheels) -> Iterator[tuple[Stack, list[PiAgent]]]:
    stack = Stack(tmp_path, mosquitto.port, rollout_every_s=0.5).start()
    stack.add_zone("thon-dong")
    agents = [PiAgent(stack, d, wheels) for d in DEVICES]
    yield stack, agents
    for agent in agents:
        agent.stop()
    stack.stop()


def _versions(stack: Stack) -> dict[str, str]:
    return {
        d["id"]: d["version"]
        for d in stack.api.get("/api/devices").json()
        if d["status"] == "online"
    }


def _upload(stack: Stack, wheel: Path) -> dict:
    with wheel.open("rb") as fh:
        r = stack.api.post(
            "/api/releases", files={"file": (wheel.name, fh)}, data={"notes": "test"}
        )
    assert r.status_code == 201, r.text
    return r.json()


def _cli(stack: Stack, *args: str) -> str:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "loalang.cli",
            *args,
            "--url",
            stack.base_url,
            "--token",
            stack.services.api_token,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr + out.stdout
    return out.stdout


def _rollout(stack: Stack, version: str, final: set[str], timeout: float = 90) -> dict:
    r = stack.api.post(
        "/api/rollouts", json={"version": version, "confirm_s": 10, "wave_timeout_s": 120}
    )
    assert r.status_code == 201, r.text
    rollout_id = r.json()["id"]
    return wait_for(
        lambda: (x := stack.api.get(f"/api/rollouts/{rollout_id}").json())["state"] in final and x,
        timeout=timeout,
        interval=0.5,
        what=f"rollout of {version} to end",
    )


def test_a_wave_rollout_updates_every_agent_and_a_broken_release_is_rolled_back(fleet, wheels):
    stack, agents = fleet
    wait_for(
        lambda: _versions(stack) == dict.fromkeys(DEVICES, BASE),
        timeout=30,
        what="three agents online on the first release",
    )
    pids = [a.proc.pid for a in agents]

    assert _cli(stack, "release", "add", str(wheels[GOOD])).startswith(f"{GOOD}  sha256 ")
    again = stack.api.post("/api/releases", files={"file": (wheels[GOOD].name, b"x")})
    assert again.status_code == 422  # not a wheel: refused, the kept one untouched
    kept = stack.api.get("/api/releases").json()
    assert [r["version"] for r in kept] == [GOOD]
    assert kept[0]["devices_running"] == 0
    done = _rollout(stack, GOOD, {"finished", "stopped"})
    assert done["state"] == "finished", done
    assert done["waves"] == 2
    assert [t["wave"] for t in done["targets"]].count(0) == 1
    assert {t["state"] for t in done["targets"]} == {"installed"}
    assert _versions(stack) == dict.fromkeys(DEVICES, GOOD)
    for agent, pid in zip(agents, pids, strict=True):
        assert agent.proc.poll() is None
        assert agent.proc.pid == pid
        assert agent.current() == GOOD
        assert agent.releases.previous.resolve().name == BASE
    updates = [e for e in stack.api.get("/api/events", params={"type": "update"}).json()]
    assert sorted((e["device_id"], e["payload"]["result"]) for e in updates) == [
        (d, "installed") for d in DEVICES
    ]

    # a release that never comes online: the first device goes back, nobody else gets it
    _upload(stack, wheels[BROKEN])
    stopped = _rollout(stack, BROKEN, {"finished", "stopped"})
    assert stopped["state"] == "stopped", stopped
    first = next(t for t in stopped["targets"] if t["wave"] == 0)
    assert first["state"] == "rolled_back", first
    assert first["reason"] == "not_online", first
    assert BROKEN in first["detail"]
    assert all(
        t["state"] == "waiting" and t["sent_at"] is None
        for t in stopped["targets"]
        if t["wave"] > 0
    )
    assert first["device_id"] in stopped["reason"]
    wait_for(
        lambda: _versions(stack) == dict.fromkeys(DEVICES, GOOD),
        timeout=30,
        what="the first device back online on the good release",
    )
    for agent in agents:
        assert agent.proc.poll() is None
        assert agent.current() == GOOD
    went_back = next(a for a in agents if a.data.name == first["device_id"])
    wait_for(
        lambda: not (went_back.releases.root / BROKEN).exists(), what="the failed release deleted"
    )
    assert (went_back.releases.root / GOOD).is_dir()

    shown = _cli(stack, "rollout", "show")
    assert "stopped" in shown
    assert "rolled_back" in shown
    assert BROKEN in shown

    # the wheel altered on the controller's disk (same size): the signed hash catches it
    r = stack.api.post(f"/api/rollouts/{stopped['id']}/cancel")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "cancelled", r.text
    stored = stack.settings.data_dir / "releases" / wheels[BROKEN].name
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))
    tampered = _rollout(stack, BROKEN, {"finished", "stopped"})
    refused = next(t for t in tampered["targets"] if t["wave"] == 0)
    assert tampered["state"] == "stopped"
    assert refused["state"] == "refused", refused
    assert refused["reason"] == "hash_mismatch", refused
    assert all(a.current() == GOOD for a in agents)

    # the technician's page says it in words: versions running, the wave, who went back
    page = stack.api.get("/ui/updates")
    assert page.status_code == 200, page.text
    assert "không cài được" in page.text
    assert "hash_mismatch" in page.text
    assert "rolled_back not_online; cancelled by" in page.text  # the earlier one, below
    assert f"<td>{GOOD}</td><td>3</td>" in page.text  # three clusters on the good release
