"""Agents that are offline when a broadcast is sent, and a broker that restarts."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from edge_agent.agent import Agent
from protocol.messages import utcnow
from tests.support.mosquitto import Mosquitto
from tests.support.stack import Stack, wait_for


def _setup(stack: Stack, speech_wav, devices=("loa-1", "loa-2")) -> dict:
    stack.add_zone("thon-dong")
    for d in devices:
        stack.register(d, ["thon-dong"])
        stack.start_agent(d)
    return stack.upload(speech_wav)


def _status(stack: Stack, device_id: str) -> str:
    return stack.api.get(f"/api/devices/{device_id}").json()["status"]


def _restart(stack: Stack, device_id: str) -> Agent:
    agent = Agent(stack.configs[device_id])
    agent.start()
    stack.agents[device_id] = agent
    return agent


def _delivery(b: dict, device_id: str) -> dict:
    return next(d for d in b["deliveries"] if d["device_id"] == device_id)


def test_offline_agent_that_returns_before_the_start_plays_in_time(stack: Stack, speech_wav):
    media = _setup(stack, speech_wav)
    stack.agents.pop("loa-2").kill()  # power cut: no goodbye, the broker sends the will
    wait_for(lambda: _status(stack, "loa-2") == "offline", what="loa-2 shown offline")

    start = utcnow() + timedelta(seconds=6)
    b = stack.broadcast(media["sha256"], ["zone:thon-dong"], start_at=start.isoformat())
    sent = wait_for(
        lambda: (lambda x: x if _delivery(x, "loa-2")["state"] == "sent" else None)(
            stack.get_broadcast(b["id"])
        ),
        what="command sent",
    )
    # the broadcaster sees that this device has not answered and is offline
    assert _delivery(sent, "loa-2")["device_status"] == "offline"

    _restart(stack, "loa-2")  # link back before start: the broker kept the QoS 1 command
    done = stack.wait_states(b["id"], {"played"}, timeout=30)
    late = _delivery(done, "loa-2")
    # it had the command before the start, so it started with the others, never early
    acked = datetime.fromisoformat(late["acked_at"])
    assert acked < datetime.fromisoformat(done["start_at"])
    assert late["start_offset_ms"] >= 0
    assert all(d["start_offset_ms"] >= 0 for d in done["deliveries"])
    assert len(stack.output_files("loa-2")) == 1


def test_the_bulletin_page_says_a_loudspeaker_is_offline_from_the_start_and_why_it_missed(
    stack: Stack, speech_wav
):
    """Issue 29: the controller knows the link is lost, so the page says so at once (not
    "Đã gửi"), the miss is put down to that (not a list of guesses), and the resend says the
    loudspeaker is still offline."""
    media = _setup(stack, speech_wav)
    stack.agents.pop("loa-2").kill()
    wait_for(lambda: _status(stack, "loa-2") == "offline", what="loa-2 shown offline")
    since = datetime.fromisoformat(stack.api.get("/api/devices/loa-2").json()["status_at"])
    at = since.astimezone(ZoneInfo(stack.settings.timezone)).strftime("%H:%M %d/%m")
    lan = stack.person("lan", "broadcaster")
    b = stack.broadcast(media["sha256"], ["zone:thon-dong"], max_late_s=1)
    waiting = lan.get(f"/ui/broadcasts/{b['id']}").text
    assert f"cụm loa mất kết nối từ {at} — sẽ phát khi có lại kết nối" in waiting
    done = stack.wait_states(b["id"], {"played", "missed"}, timeout=30)
    assert _delivery(done, "loa-2")["reason"] == f"device offline since {since.isoformat()}"
    page = lan.get(f"/ui/broadcasts/{b['id']}").text
    assert f"cụm loa mất kết nối từ {at}" in page
    assert "không báo bắt đầu phát" not in page  # no guessing
    assert "Vẫn mất kết nối: Cụm loa loa-2." in page


def test_offline_agent_that_returns_after_the_play_window_does_not_play(stack: Stack, speech_wav):
    media = _setup(stack, speech_wav)
    stack.agents.pop("loa-2").kill()
    wait_for(lambda: _status(stack, "loa-2") == "offline", what="loa-2 shown offline")

    b = stack.broadcast(media["sha256"], ["zone:thon-dong"], max_late_s=1)
    done = stack.wait_states(b["id"], {"played", "missed"}, timeout=30)
    assert _delivery(done, "loa-1")["state"] == "played"
    missed = _delivery(done, "loa-2")
    assert missed["state"] == "missed"
    assert missed["reason"]

    agent = _restart(stack, "loa-2")  # the queued command is past its not-after: refused
    events = wait_for(
        lambda: [
            e
            for e in stack.events(type="security", device_id="loa-2")
            if e["payload"]["reason"] == "expired"
        ],
        what="expired refusal",
    )
    assert events[0]["payload"]["play_id"] == b["id"]
    assert b["id"] not in agent.state.plays
    assert not agent.player.has(b["id"])
    time.sleep(1)
    assert stack.output_files("loa-2") == []
    assert _delivery(stack.get_broadcast(b["id"]), "loa-2")["state"] == "missed"


def test_broker_restart_between_two_broadcasts(stack: Stack, mosquitto: Mosquitto, speech_wav):
    media = _setup(stack, speech_wav)
    first = stack.broadcast(media["sha256"], ["zone:thon-dong"])
    stack.wait_states(first["id"], {"played"})

    mosquitto.restart(downtime=1.0)
    wait_for(lambda: stack.services.gateway.connected.is_set(), what="controller reconnected")
    for agent in stack.agents.values():
        wait_for(agent.link.connected.is_set, what=f"{agent.device_id} reconnected")
    wait_for(
        lambda: all(_status(stack, d) == "online" for d in ("loa-1", "loa-2")),
        what="devices online again",
    )

    second = stack.broadcast(media["sha256"], ["zone:thon-dong"])
    stack.wait_states(second["id"], {"played"})
    for device_id in ("loa-1", "loa-2"):
        assert len(stack.output_files(device_id)) == 2
