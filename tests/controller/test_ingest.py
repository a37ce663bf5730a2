"""Agent reports over real MQTT: deduplicated by event id; garbage and spoofing are dropped."""

from __future__ import annotations

import json
import uuid

import paho.mqtt.client as mqtt

from controller.db.models import DeviceEvent
from protocol import topics
from protocol.messages import utcnow
from tests.support.stack import Stack, wait_for


def _client(stack: Stack) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:6]}")
    c.connect(stack.settings.mqtt_host, stack.settings.mqtt_port)
    c.loop_start()
    return c


def test_same_event_twice_is_stored_once_and_garbage_is_dropped(stack: Stack):
    stack.add_zone("z")
    stack.register("loa-1", ["z"])
    client = _client(stack)
    event = {
        "event_id": "e-1",
        "device_id": "loa-1",
        "ts": utcnow().isoformat(),
        "type": "security",
        "reason": "bad_signature",
        "detail": "test",
    }
    topic = topics.device_topic("loa-1", "event")
    garbage = [
        b"",
        b"\xff\xfe",
        b"{}",
        b'{"type": "nope"}',
        json.dumps({**event, "ts": "x"}).encode(),
        json.dumps({**event, "event_id": "e-2", "device_id": "loa-2"}).encode(),
        b"[" * 100000,
    ]
    for payload in [json.dumps(event).encode(), *garbage, json.dumps(event).encode()]:
        client.publish(topic, payload, qos=1).wait_for_publish(5)
    client.publish(
        topics.device_topic("ghost", "event"),
        json.dumps({**event, "event_id": "e-3", "device_id": "ghost"}),
        qos=1,
    ).wait_for_publish(5)
    ingest = stack.services.ingest
    wait_for(lambda: ingest.processed + ingest.rejected >= len(garbage) + 3, what="ingest")
    assert ingest.wait_idle()
    with stack.services.sessions() as session:
        rows = session.query(DeviceEvent).all()
    assert [(r.event_id, r.device_id) for r in rows] == [("e-1", "loa-1")]
    # the controller is still working
    assert stack.api.get("/healthz").json()["mqtt"] is True
