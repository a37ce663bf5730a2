"""Rotating the controller's signing key on a running fleet: the next key is announced with the
current one, devices acknowledge it, promotion makes it sign everything (plans too) and
retires the old one, which the devices then refuse — also after a restart."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import timedelta

import paho.mqtt.client as mqtt

from protocol import topics
from protocol.envelope import sign
from protocol.messages import CommandPayload, StopCommand, utcnow
from tests.support.stack import Stack, wait_for


def test_rotate_promote_retire(stack: Stack, speech_wav):
    stack.add_zone("thon-dong")
    for d in ("loa-1", "loa-2"):
        stack.register(d, ["thon-dong"])
        stack.start_agent(d)
    assert stack.services is not None
    old = stack.services.keys.active

    r = stack.api.post("/api/keys/promote", json={})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "keys.no_next"
    r = stack.api.post("/api/keys/next")
    assert r.status_code == 200, r.text
    nxt = r.json()["next"]
    assert nxt
    assert nxt != old.kid
    assert r.json()["active"] == old.kid
    status = wait_for(
        lambda: (s := stack.api.get("/api/keys").json())["devices_waiting"] == [] and s,
        what="every device acknowledged the next key",
    )
    assert status["devices_ready"] == ["loa-1", "loa-2"]
    for agent in stack.agents.values():
        assert set(agent.trusted_keys()) == {old.kid, nxt}
    # an enrolment now carries both keys
    cfg = stack.register("loa-3", ["thon-dong"])
    assert set(cfg.keys) == {old.kid, nxt}

    r = stack.api.post("/api/keys/promote", json={})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "keys.devices_waiting"
    r = stack.api.post("/api/keys/promote", json={"force": True})  # loa-3 never started
    assert r.status_code == 200, r.text
    assert r.json()["active"] == nxt
    assert r.json()["retired"] == [old.kid]
    for agent in stack.agents.values():
        wait_for(lambda a=agent: set(a.trusted_keys()) == {nxt}, what="old key retired")

    media = stack.upload(speech_wav)  # signed with the new key, played
    b = stack.broadcast(media["sha256"], ["device:loa-1", "device:loa-2"])
    stack.wait_states(b["id"], {"played"}, timeout=60)
    # every plan was signed again with the new key
    wait_for(
        lambda: all(json.loads(p)["payload"]["kid"] == nxt for p in _plans(stack)),
        what="plans re-signed",
    )

    # the old key is refused now, even after a restart of the agent
    stack.agents["loa-1"].stop()
    stack.start_agent("loa-1")
    forged = CommandPayload(
        kid=old.kid,
        cmd_id=uuid.uuid4().hex,
        target="device:loa-1",
        issued_at=utcnow(),
        not_after=utcnow() + timedelta(minutes=5),
        seq=int(utcnow().timestamp() * 1000) + 60_000,
        body=StopCommand(reason="old key"),
    )
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="old-key")
    client.connect("127.0.0.1", stack.settings.mqtt_port)
    client.loop_start()
    client.publish(
        topics.device_topic("loa-1", "cmd"), sign(forged, old.private), qos=1
    ).wait_for_publish(5)
    events = wait_for(
        lambda: [
            e for e in stack.events(type="security") if e["payload"].get("cmd_id") == forged.cmd_id
        ],
        what="the old key refused",
    )
    assert events[0]["payload"]["reason"] == "unknown_key"
    client.loop_stop()


def _plans(stack: Stack) -> list[bytes]:
    from sqlalchemy import select

    from controller.db.models import DevicePlan

    assert stack.services is not None
    with stack.services.sessions() as session:
        return [p.data for p in session.scalars(select(DevicePlan)) if p.data]


def test_keys_on_the_command_line(stack: Stack):
    env = {"LOALANG_URL": stack.base_url, "LOALANG_TOKEN": stack.services.api_token}  # type: ignore[union-attr]
    out = subprocess.run(
        [sys.executable, "-m", "loalang.cli", "keys", "status"],
        capture_output=True,
        text=True,
        env={**env, "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert stack.services.keys.active.kid in out.stdout  # type: ignore[union-attr]
