"""The agent obeys only what the controller signed, for it, in time, once, with matching audio."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from datetime import timedelta

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controller.keys import public_of
from edge_agent.agent import Agent
from protocol import topics
from protocol.envelope import sign
from protocol.messages import CommandPayload, MediaRef, PlayCommand, to_builtins, utcnow
from tests.support.stack import Stack, wait_for


@pytest.fixture
def one_agent(stack: Stack, speech_wav):
    stack.add_zone("thon-dong")
    stack.register("loa-1", ["thon-dong"])
    stack.start_agent("loa-1")
    media = stack.upload(speech_wav)
    return stack, media


_SEQ = itertools.count(time.time_ns() // 1_000_000 + 10_000)  # above what the controller used


def _publisher(stack: Stack) -> mqtt.Client:
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"attacker-{uuid.uuid4().hex[:6]}"
    )
    client.connect(stack.settings.mqtt_host, stack.settings.mqtt_port)
    client.loop_start()
    return client


def _play_payload(
    kid: str,
    media: dict,
    *,
    target: str = "device:loa-1",
    sha: str | None = None,
    start_in: float = 1.5,
    valid_for: float = 60,
    issued_ago: float = 0,
    play_id: str | None = None,
) -> CommandPayload:
    now = utcnow()
    start = now + timedelta(seconds=start_in)
    play_id = play_id or f"p-{uuid.uuid4().hex[:8]}"
    return CommandPayload(
        kid=kid,
        cmd_id=uuid.uuid4().hex,
        target=target,
        issued_at=now - timedelta(seconds=issued_ago),
        not_after=now + timedelta(seconds=valid_for),
        seq=next(_SEQ),
        body=PlayCommand(
            play_id=play_id,
            broadcast_id=play_id,
            start_at=start,
            media=MediaRef(
                sha256=sha or media["sha256"],
                url=media["url"],
                size=media["size"],
                duration_ms=media["duration_ms"],
            ),
        ),
    )


def _send(client: mqtt.Client, data: bytes, topic: str = topics.device_topic("loa-1", "cmd")):
    client.publish(topic, data, qos=1).wait_for_publish(5)


def _finished(stack: Stack) -> int:
    """Plays the agent's sound card finished (these commands are signed here, outside the
    controller's record: it rightly refuses their reports, so what played is read off the
    card)."""
    return sum(
        1
        for p in stack.configs["loa-1"].output_dir.glob("*.json")
        if json.loads(p.read_text()).get("actual_end")
    )


def _security(stack: Stack, reason: str) -> list[dict]:
    return [e for e in stack.events(type="security") if e["payload"]["reason"] == reason]


def _assert_refused(stack: Stack, reason: str) -> dict:
    events = wait_for(lambda: _security(stack, reason), what=f"security event {reason}")
    agent = stack.agents["loa-1"]
    play_id = events[0]["payload"].get("play_id")
    if play_id is not None:
        if reason != "media_hash_mismatch":  # a refused command is never even claimed
            assert play_id not in agent.state.plays
        wait_for(lambda: not agent.player.has(play_id), what="nothing scheduled for it")
    time.sleep(2.5)  # past the start time the command asked for
    assert stack.output_files("loa-1") == [], "a refused command played"
    assert events[0]["device_id"] == "loa-1"
    return events[0]


def test_tampered_signature_is_refused(one_agent):
    stack, media = one_agent
    key = stack.services.key
    envelope = json.loads(sign(_play_payload(key.kid, media), key.private))
    envelope["payload"]["body"]["media"]["url"] = "http://evil.example/siren.opus"
    _send(_publisher(stack), json.dumps(envelope).encode())
    _assert_refused(stack, "bad_signature")


def test_unknown_key_is_refused(one_agent):
    stack, media = one_agent
    rogue = Ed25519PrivateKey.generate()
    _send(_publisher(stack), sign(_play_payload(public_of(rogue).kid, media), rogue))
    _assert_refused(stack, "unknown_key")


def test_rogue_key_claiming_the_controllers_key_id_is_refused(one_agent):
    stack, media = one_agent
    rogue = Ed25519PrivateKey.generate()
    _send(_publisher(stack), sign(_play_payload(stack.services.key.kid, media), rogue))
    _assert_refused(stack, "bad_signature")


def test_unsigned_command_is_refused(one_agent):
    stack, media = one_agent
    payload = to_builtins(_play_payload(stack.services.key.kid, media))
    _send(_publisher(stack), json.dumps(payload).encode())
    _assert_refused(stack, "unsigned")


def test_expired_command_is_refused(one_agent):
    stack, media = one_agent
    key = stack.services.key
    payload = _play_payload(key.kid, media, start_in=-30, valid_for=-10, issued_ago=60)
    _send(_publisher(stack), sign(payload, key.private))
    _assert_refused(stack, "expired")


def test_command_for_another_device_is_refused(one_agent):
    stack, media = one_agent
    key = stack.services.key
    payload = _play_payload(key.kid, media, target="device:loa-2")
    _send(_publisher(stack), sign(payload, key.private))
    _assert_refused(stack, "wrong_target")


def test_a_signed_play_on_the_plan_topic_is_reported_not_dropped(one_agent):
    stack, media = one_agent
    key = stack.services.key
    payload = _play_payload(key.kid, media)
    _send(_publisher(stack), sign(payload, key.private), topics.device_topic("loa-1", "plan"))
    event = _assert_refused(stack, "wrong_topic")
    assert event["payload"]["cmd_id"] == payload.cmd_id


def test_media_whose_hash_does_not_match_is_not_played(one_agent):
    stack, media = one_agent
    key = stack.services.key
    payload = _play_payload(key.kid, media, sha="ab" * 32)
    _send(_publisher(stack), sign(payload, key.private))
    event = _assert_refused(stack, "media_hash_mismatch")
    assert event["play_id"] == payload.body.play_id
    assert not (stack.configs["loa-1"].data_path / "cache" / f"{'ab' * 32}.opus").exists()


def test_replayed_command_is_refused_also_after_an_agent_restart(one_agent):
    stack, media = one_agent
    key = stack.services.key
    old = sign(_play_payload(key.kid, media, start_in=1.0), key.private)
    newer = sign(_play_payload(key.kid, media, start_in=1.0), key.private)
    attacker = _publisher(stack)
    _send(attacker, old)
    _send(attacker, newer)
    wait_for(lambda: _finished(stack) == 2, timeout=30, what="the two genuine plays")
    assert len(stack.output_files("loa-1")) == 2

    _send(attacker, old)  # an older command, recorded and sent again
    wait_for(lambda: _security(stack, "replayed"), what="replay refused")

    stack.agents.pop("loa-1").stop()
    restarted = Agent(stack.configs["loa-1"])
    restarted.start()
    stack.agents["loa-1"] = restarted
    wait_for(restarted.link.connected.is_set, what="agent back")
    _send(attacker, old)
    wait_for(lambda: len(_security(stack, "replayed")) >= 2, what="replay refused after restart")
    replayed = _security(stack, "replayed")[0]["payload"]["play_id"]
    assert replayed
    assert not restarted.player.has(replayed)
    time.sleep(2)
    assert len(stack.output_files("loa-1")) == 2, "a replay played"


def test_redelivery_of_the_last_command_is_ignored_quietly(one_agent):
    """MQTT QoS 1 may deliver the last command twice after a reconnect: not an attack."""
    stack, media = one_agent
    key = stack.services.key
    data = sign(_play_payload(key.kid, media, start_in=1.0), key.private)
    attacker = _publisher(stack)
    _send(attacker, data)
    _send(attacker, data)
    wait_for(lambda: _finished(stack) == 1, timeout=20, what="the play")
    wait_for(lambda: stack.agents["loa-1"].duplicates_ignored == 1, what="duplicate counted")
    time.sleep(1)
    assert len(stack.output_files("loa-1")) == 1
    assert _security(stack, "replayed") == []
