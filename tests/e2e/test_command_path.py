"""The one command path under faults: commands kept while the broker is down, sequence order
under concurrency, retained plans and status re-asserted after the broker lost or changed them."""

from __future__ import annotations

import threading
from datetime import timedelta

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import select

from controller.db.models import Command, DevicePlan
from protocol import topics
from protocol.messages import SetVolumeCommand, utcnow
from tests.support.mosquitto import Mosquitto
from tests.support.stack import Stack, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def persistent(tmp_path):
    """A broker that keeps sessions across its restart (as production Mosquitto does), and a
    controller on it: what the broker queued for an agent survives the outage."""
    broker = Mosquitto(tmp_path / "persistent", persistence=True).start()
    stack = Stack(tmp_path, broker.port).start()
    yield stack, broker
    stack.stop()
    broker.stop()


def _one_village(stack: Stack, speech_wav, devices=("loa-1",)) -> dict:
    stack.add_zone("thon-dong")
    for d in devices:
        stack.register(d, ["thon-dong"])
        stack.start_agent(d)
    return stack.upload(speech_wav)


def _commands(stack: Stack, **where) -> list[Command]:
    with stack.services.sessions() as session:
        query = select(Command)
        for key, value in where.items():
            query = query.where(getattr(Command, key) == value)
        return list(session.scalars(query))


class Retained:
    """What the broker retains on some topics, read by a fresh subscriber."""

    def __init__(self, port: int, *subscriptions: str):
        self.messages: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe([(s, 1) for s in subscriptions])
        self.client.loop_start()

    def _on_message(self, client, userdata, msg) -> None:  # type: ignore[no-untyped-def]
        with self._lock:
            self.messages[msg.topic] = msg.payload

    def get(self, topic: str) -> bytes | None:
        with self._lock:
            return self.messages.get(topic)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_a_cancel_during_a_broker_outage_is_kept_and_delivered(persistent, speech_wav):
    stack, mosquitto = persistent
    media = _one_village(stack, speech_wav, ("loa-1", "loa-2"))
    start = utcnow() + timedelta(seconds=14)
    b = stack.broadcast(media["sha256"], ["zone:thon-dong"], start_at=start.isoformat())
    stack.wait_states(b["id"], {"media_ready"}, timeout=30)  # the play reached both agents

    mosquitto.stop()
    wait_for(lambda: not stack.services.gateway.connected.is_set(), what="controller offline")
    r = stack.api.post(f"/api/broadcasts/{b['id']}/cancel")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "cancelled"
    assert r.json()["commands_pending"] == ["zone:thon-dong"]  # the caller is told
    [cancel] = _commands(stack, broadcast_id=b["id"], type="cancel")
    assert cancel.state == "pending"
    assert cancel.data

    mosquitto.start()
    wait_for(
        lambda: _commands(stack, cmd_id=cancel.cmd_id)[0].state == "published",
        timeout=30,
        what="the kept cancel published once the broker is back",
    )
    wait_for(
        lambda: (
            {
                e["device_id"]
                for e in stack.events(type="ack")
                if e["payload"]["cmd_id"] == cancel.cmd_id
            }
            == {"loa-1", "loa-2"}
        ),
        timeout=30,
        what="both agents acknowledged the cancel",
    )
    # past the start and the whole bulletin: nothing came out of either loudspeaker
    wait_for(
        lambda: utcnow() > start + timedelta(milliseconds=media["duration_ms"] + 1500),
        timeout=40,
        what="the play window passed",
    )
    assert stack.output_files("loa-1") == []
    assert stack.output_files("loa-2") == []
    assert stack.get_broadcast(b["id"])["commands_pending"] == []


def test_a_stop_while_the_broker_is_down_answers_pending_then_goes_out(persistent, speech_wav):
    stack, mosquitto = persistent
    _one_village(stack, speech_wav)
    mosquitto.stop()
    wait_for(lambda: not stack.services.gateway.connected.is_set(), what="controller offline")
    r = stack.api.post("/api/stop", json={"targets": ["all"], "reason": "test"})
    assert r.status_code == 202, r.text
    assert r.json()["pending"] == ["all"]
    assert r.json()["devices"] == ["loa-1"]
    [cmd_id] = r.json()["cmd_ids"]
    mosquitto.start()
    wait_for(
        lambda: any(e["payload"]["cmd_id"] == cmd_id for e in stack.events(type="ack")),
        timeout=30,
        what="the agent acknowledged the kept STOP",
    )


def test_commands_sent_from_many_threads_reach_the_agent_in_order(stack: Stack, speech_wav):
    """Sequence numbers are taken and published under one lock per target: none is refused
    as replayed, whichever thread wins."""
    _one_village(stack, speech_wav)
    path = stack.services.commands
    sent: list = []
    lock = threading.Lock()

    def send(level: int) -> None:
        cmd = path.send("device:loa-1", SetVolumeCommand(level=level))
        with lock:
            sent.append(cmd)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(c.state.value == "published" for c in sent)
    ids = {c.cmd_id for c in sent}
    wait_for(
        lambda: (
            ids
            <= {
                e["payload"]["cmd_id"]
                for e in stack.events(type="ack", limit=500)
                if e["payload"]["accepted"]
            }
        ),
        timeout=30,
        what="every command accepted",
    )
    assert [e for e in stack.events(type="security") if e["payload"]["reason"] == "replayed"] == []


def test_retained_plans_are_reasserted_after_the_broker_lost_them(
    stack: Stack, mosquitto: Mosquitto, speech_wav
):
    _one_village(stack, speech_wav)
    plan_topic = topics.device_topic("loa-1", "plan")

    def held() -> bytes | None:
        with stack.services.sessions() as session:
            row = session.get(DevicePlan, "loa-1")
            return row.data if row else None

    wanted = wait_for(held, what="a plan recorded for loa-1")
    mosquitto.kill()  # kill -9: no persistence, every retained message is gone
    mosquitto.start()
    wait_for(stack.services.gateway.connected.is_set, timeout=30, what="controller reconnected")
    seen = Retained(mosquitto.port, plan_topic)
    try:
        wait_for(
            lambda: seen.get(plan_topic) == wanted,
            timeout=20,
            what="the plan retained again, byte for byte",
        )
    finally:
        seen.close()


def test_a_replaced_plan_and_a_clobbered_controller_status_are_put_back(
    stack: Stack, mosquitto: Mosquitto, speech_wav
):
    _one_village(stack, speech_wav)
    plan_topic = topics.device_topic("loa-1", "plan")
    with stack.services.sessions() as session:
        wait_for(lambda: session.get(DevicePlan, "loa-1"), what="a plan recorded")
    stray = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    stray.connect("127.0.0.1", mosquitto.port)
    stray.loop_start()
    stray.publish(plan_topic, b"", qos=1, retain=True).wait_for_publish(5)
    stray.publish(
        topics.CONTROLLER_STATUS, topics.CONTROLLER_OFFLINE, qos=1, retain=True
    ).wait_for_publish(5)
    stray.loop_stop()
    stray.disconnect()

    seen = Retained(mosquitto.port, plan_topic, topics.CONTROLLER_STATUS)
    try:
        with stack.services.sessions() as session:
            wanted = session.get(DevicePlan, "loa-1").data
        wait_for(lambda: seen.get(plan_topic) == wanted, timeout=20, what="plan put back")
        wait_for(
            lambda: seen.get(topics.CONTROLLER_STATUS) == topics.CONTROLLER_ONLINE,
            timeout=20,
            what="controller status put back",
        )
    finally:
        seen.close()
    agent = stack.agents["loa-1"]
    wait_for(agent.link.controller_online.is_set, what="the agent sees the controller again")


def test_a_second_controller_stopping_cleanly_does_not_silence_the_fleet(
    stack: Stack, mosquitto, tmp_path, speech_wav
):
    """Its last word on ``controller/status`` is "offline"; the running controller puts its own
    back, the agents send their reports again, and a broadcast ends played, not missed."""
    stack.add_zone("thon-dong")
    stack.register("loa-1", ["thon-dong"])
    agent = stack.start_agent("loa-1")
    wait_for(lambda: agent.link.controller_online.is_set(), what="controller online")
    other = Stack(tmp_path / "second", mosquitto.port).start()
    other.stop()  # a clean stop: it publishes "offline", retained, on the same topic
    wait_for(
        lambda: agent.link.controller_online.is_set(),
        timeout=30,
        what="the running controller's status back on the agent",
    )
    media = stack.upload(speech_wav)
    b = stack.broadcast(media["sha256"], ["zone:thon-dong"])
    assert stack.wait_states(b["id"], {"played"}, timeout=60)["deliveries"][0]["played_ms"]
