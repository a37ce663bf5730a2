"""Quiet hours hold for every broadcast, not only schedules: a normal one-off starting inside
them is refused at creation (API, web form, CLI) and nothing is stored; an emergency passes;
an override is explicit, shown and logged; a "now" bulletin approved inside them is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.support.stack import Stack

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
ROOT = Path(__file__).resolve().parents[2]


def _quiet(stack: Stack, start: str, end: str, zones: list[str] | None = None) -> None:
    r = stack.api.put(
        "/api/schedules",
        json={
            "timezone": "Asia/Ho_Chi_Minh",
            "schedules": [],
            "quiet_hours": [{"zones": zones or ["*"], "start": start, "end": end}],
        },
    )
    assert r.status_code == 200, r.text


def _tonight_at(hour: int, minute: int) -> datetime:
    """The next local hour:minute at least an hour away (as UTC-aware)."""
    now = datetime.now(HCM)
    at = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    while at < now + timedelta(hours=1):
        at += timedelta(days=1)
    return at


@pytest.fixture
def villages(stack: Stack, speech_wav) -> tuple[Stack, str]:
    stack.add_zone("thon-dong", "Thôn Đông")
    stack.add_zone("thon-tay", "Thôn Tây")
    stack.register("loa-dong", ["thon-dong"])
    stack.register("loa-tay", ["thon-tay"])
    return stack, stack.upload(speech_wav)["sha256"]


def _post(client, sha: str, at: datetime, **extra):
    return client.post(
        "/api/broadcasts",
        json={
            "media_sha256": sha,
            "targets": ["zone:thon-dong"],
            "start_at": at.isoformat(),
            "title": "Tin muộn",
            **extra,
        },
    )


def test_a_normal_bulletin_at_2330_is_refused_and_an_emergency_passes(villages):
    stack, sha = villages
    _quiet(stack, "22:00", "05:00")
    late = _tonight_at(23, 30)
    refused = _post(stack.api, sha, late, priority="normal")
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "broadcast.quiet_hours"
    assert "23:30 nằm trong giờ yên tĩnh (22:00–05:00)" in error["messages"]["vi"]
    assert "quiet hours (22:00–05:00)" in error["messages"]["en"]
    assert stack.api.get("/api/broadcasts").json() == []  # nothing stored
    emergency = _post(stack.api, sha, late, priority="emergency")
    assert emergency.status_code == 201
    assert emergency.json()["state"] == "pending_confirmation"
    # outside the window, or a village whose own quiet hours do not cover it: accepted
    assert _post(stack.api, sha, _tonight_at(20, 0)).status_code == 201
    _quiet(stack, "22:00", "05:00", zones=["thon-tay"])
    assert _post(stack.api, sha, late).status_code == 201


def test_an_override_is_explicit_shown_and_logged(villages):
    stack, sha = villages
    _quiet(stack, "22:00", "05:00")
    late = _tonight_at(23, 30)
    lan = stack.person("lan", "broadcaster")
    asked = _post(lan, sha, late, quiet_override=True)
    assert asked.status_code == 201, asked.text
    b = asked.json()
    assert b["quiet_override"]
    assert b["state"] == "pending_approval"
    audit = [e for e in stack.api.get("/api/audit").json() if e["action"] == "broadcast.create"]
    assert audit[0]["detail"].get("quiet_override") is True
    page = stack.person("chu-tich", "approver").get(f"/ui/broadcasts/{b['id']}").text
    assert "Phát trong giờ yên tĩnh theo yêu cầu của người gửi." in page


def test_a_now_bulletin_approved_inside_quiet_hours_is_refused(villages):
    stack, sha = villages
    lan = stack.person("lan", "broadcaster")
    held = lan.post("/api/broadcasts", json={"media_sha256": sha, "targets": ["zone:thon-dong"]})
    assert held.status_code == 201
    assert held.json()["state"] == "pending_approval"
    now = datetime.now(HCM)
    _quiet(stack, f"{(now - timedelta(hours=1)):%H:%M}", f"{(now + timedelta(hours=1)):%H:%M}")
    approved = stack.person("chu-tich", "approver").post(
        f"/api/broadcasts/{held.json()['id']}/approve"
    )
    assert approved.status_code == 422
    assert approved.json()["error"]["code"] == "broadcast.quiet_hours"
    assert stack.get_broadcast(held.json()["id"])["state"] == "pending_approval"


def test_the_send_form_and_the_cli_say_so_before_anything_is_made(villages, speech_wav):
    stack, sha = villages
    _quiet(stack, "22:00", "05:00")
    late = _tonight_at(23, 30)
    lan = stack.person("lan", "broadcaster")
    media_before = len(stack.api.get("/api/media").json())
    page = lan.post(
        "/ui/send",
        data={
            "title": "Tin muộn",
            "village": "thon-dong",
            "when": "at",
            "at": late.strftime("%Y-%m-%dT%H:%M"),
            "priority": "normal",
        },
        files={"file": ("tin.wav", speech_wav.read_bytes(), "audio/wav")},
        follow_redirects=False,
    )
    assert page.status_code == 422
    assert "nằm trong giờ yên tĩnh (22:00–05:00)" in page.text
    assert 'name="quiet_override"' in page.text
    assert len(stack.api.get("/api/media").json()) == media_before  # no job, nothing made
    env = {**os.environ, "LOALANG_URL": stack.base_url, "LOALANG_TOKEN": stack.services.api_token}
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "loalang.cli",
            "broadcast",
            str(speech_wav),
            "--to",
            "thon-dong",
            "--at",
            late.strftime("%Y-%m-%d %H:%M"),
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert cli.returncode != 0
    assert "giờ yên tĩnh" in cli.stdout + cli.stderr
    assert stack.api.get("/api/broadcasts").json() == []
