"""Reports that cannot be lost, commands that cannot starve (real Mosquitto, real agents).

A broker whose queue for the controller is full drops reports the agents already got their
PUBACK for; an agent now deletes a report only on the controller's receipt, so a whole fleet
flushing its backlog into a deliberately tiny broker queue ends with every report stored
exactly once. And commands go over their own session: a STOP sent while reports flood the
controller's inbound session is not stuck behind them."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

import paho.mqtt.client as mqtt
from sqlalchemy import select

from controller.db.models import DeviceEvent
from edge_agent.agent import Agent
from edge_agent.outbox import Outbox
from protocol import topics
from protocol.messages import MediaReadyEvent, encode, utcnow
from tests.support.mosquitto import Mosquitto
from tests.support.stack import Stack, wait_for

AGENTS = 12
BACKLOG = 30


def _queued_report(device_id: str, k: int) -> tuple[str, bytes, str]:
    event = MediaReadyEvent(
        event_id=uuid.uuid4().hex,
        device_id=device_id,
        ts=utcnow(),
        play_id=f"outage-{k}",
        sha256="ab" * 32,
    )
    return topics.device_topic(device_id, "event"), encode(event), event.event_id


def test_a_fleet_flushing_its_backlog_into_a_tiny_broker_queue_loses_nothing(tmp_path):
    # the default is 10,000 queued; here 20 in flight and 2 queued for the controller
    broker = Mosquitto(tmp_path / "mq", max_queued=2).start()
    stack = Stack(tmp_path, broker.port).start()
    try:
        want: dict[str, set[str]] = {}
        for i in range(AGENTS):
            device = f"loa-{i}"
            config = stack.register(device, [], health_interval_s=3600)
            config.mqtt.flush_jitter_s = 0.0  # all at once
            config.mqtt.receipt_timeout_s = 3.0
            outbox = Outbox(config.data_path / "outbox")  # what it held after an outage
            want[device] = set()
            for k in range(BACKLOG):
                topic, payload, event_id = _queued_report(device, k)
                outbox.put(topic, payload, key=event_id)
                want[device].add(event_id)
        agents = [Agent(stack.configs[d]) for d in want]
        for agent in agents:  # all at once: 240 reports at once into room for 22
            agent.start()
            stack.agents[agent.device_id] = agent
        assert stack.services is not None

        def stored() -> Counter[str]:
            """Reports stored, whatever became of them: these name plays never sent (made
            up for the backlog), so each is kept as a refused report under its event id."""
            with stack.services.sessions() as session:  # type: ignore[union-attr]
                return Counter(
                    session.scalars(
                        select(DeviceEvent.event_id).where(DeviceEvent.device_id.like("loa-%"))
                    )
                )

        wait_for(
            lambda: (
                sum(stored().values()) >= AGENTS * BACKLOG
                and all(len(a.outbox) == 0 for a in agents)
            ),
            timeout=120,
            what="every queued report stored and every outbox empty",
        )
        rows = stored()
        assert set(rows) == set().union(*want.values())  # every one of them
        assert set(rows.values()) == {1}  # and each once
        resent = sum(a.link.resent for a in agents)
        print(f"reports sent again for want of a receipt: {resent}")
        assert resent > 0, "the broker dropped nothing: the test did not test the loss"
    finally:
        stack.stop()
        broker.stop()


def _silenced(stack: Stack, device_id: str) -> bool:
    """The WAV sidecar of the play says it was cut short."""
    return any(
        json.loads(p.read_text()).get("interrupted")
        for p in stack.configs[device_id].output_dir.glob("*.json")
    )


def test_a_stop_reaches_the_agents_while_reports_flood_the_controller(tmp_path, speech_dir):
    from tests.support.audio import make_speech

    broker = Mosquitto(tmp_path / "mq").start()
    stack = Stack(tmp_path, broker.port).start()
    try:
        stack.register("loa-1", [])
        stack.register("loa-2", [])
        stack.start_agent("loa-1")
        media = stack.upload(make_speech(speech_dir / "dai.wav", "Kính thưa bà con. " * 40))
        b = stack.broadcast(media["sha256"], ["device:loa-1"])
        stack.wait_states(b["id"], {"playing"})

        stop_flood = threading.Event()
        sent = [0]

        def flood() -> None:  # loa-2's reports, as fast as a client can publish them
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="flood")
            client.connect("127.0.0.1", broker.port)
            client.loop_start()
            topic = topics.device_topic("loa-2", "event")
            while not stop_flood.is_set():
                for _ in range(200):
                    event = MediaReadyEvent(
                        event_id=uuid.uuid4().hex,
                        device_id="loa-2",
                        ts=utcnow(),
                        play_id="flood",
                        sha256="ab" * 32,
                    )
                    client.publish(topic, encode(event), qos=1)
                    sent[0] += 1
                time.sleep(0.001)
            client.loop_stop()

        flooder = threading.Thread(target=flood, daemon=True)
        flooder.start()
        try:
            wait_for(lambda: sent[0] > 20_000, timeout=60, what="the flood under way")
            asked = time.monotonic()
            r = stack.api.post("/api/stop", json={"targets": ["device:loa-1"], "reason": "thử"})
            assert r.status_code == 200, r.text  # 202 would mean: no PUBACK, waiting
            wait_for(lambda: _silenced(stack, "loa-1"), timeout=10, what="silence")
            took = time.monotonic() - asked
            backlog = stack.services.ingest._queue.qsize()  # type: ignore[union-attr]
        finally:
            stop_flood.set()
            flooder.join(10)
        print(
            f"STOP → silence in {took:.2f} s with {sent[0]} reports flooding in, "
            f"{backlog} waiting at the controller"
        )
        d = stack.wait_states(b["id"], {"interrupted"}, timeout=120)["deliveries"]
        assert [x["state"] for x in d] == ["interrupted"]
    finally:
        stack.stop()
        broker.stop()


def test_the_controller_sends_a_receipt_for_a_report_it_cannot_read(tmp_path):
    """A report refused for good is confirmed too, or it would be sent again forever."""
    broker = Mosquitto(tmp_path / "mq").start()
    stack = Stack(tmp_path, broker.port).start()
    try:
        stack.register("loa-1", [])
        got: list[bytes] = []
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="loa-1-probe")
        client.on_message = lambda c, u, m: got.append(m.payload)
        client.connect("127.0.0.1", broker.port)
        client.subscribe(topics.device_topic("loa-1", "receipt"), qos=1)
        client.loop_start()
        time.sleep(0.5)
        bad = json.dumps(
            {
                "type": "media.ready",
                "event_id": "e-bad",
                "device_id": "loa-1",
                "ts": (utcnow() - timedelta(seconds=1)).isoformat(),
                "play_id": "p",
                "sha256": "not-a-hash",
            }
        ).encode()
        client.publish(topics.device_topic("loa-1", "event"), bad, qos=1)
        wait_for(lambda: got, what="a receipt")
        assert json.loads(got[0]) == {"ids": ["e-bad"]}
        client.loop_stop()
    finally:
        stack.stop()
        broker.stop()


def test_a_new_report_goes_out_while_an_earlier_one_waits_for_its_receipt(tmp_path):
    """The play's ack must not wait for the receipt of the report before it (an emergency's
    ack had queued behind the prepare's); the one without a receipt still goes again."""
    from edge_agent.config import MqttConfig
    from edge_agent.link import MqttLink
    from protocol.messages import DeviceState, ReceiptMessage, StatusMessage

    broker = Mosquitto(tmp_path / "mq").start()
    device = "loa-window"
    arrived: list[tuple[str, float]] = []  # (event id, when the "controller" got it)
    controller = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ctl")
    controller.on_message = lambda c, u, m: arrived.append(
        (json.loads(m.payload)["event_id"], time.monotonic())
    )
    controller.connect("127.0.0.1", broker.port)
    controller.subscribe(topics.device_topic(device, "event"), qos=1)
    controller.publish(
        topics.controller_status("c1"), topics.CONTROLLER_ONLINE, qos=1, retain=True
    ).wait_for_publish(5)
    controller.loop_start()
    outbox = Outbox(tmp_path / "outbox")
    link = MqttLink(
        MqttConfig(port=broker.port, flush_jitter_s=0, receipt_timeout_s=4),
        device,
        [],
        outbox,
        on_command=lambda topic, payload: None,
        birth=lambda: StatusMessage(
            device_id=device, ts=utcnow(), version="t", state=DeviceState.online
        ),
    )
    try:
        link.start()
        wait_for(link.controller_online.is_set, timeout=10, what="the controller seen online")
        first_topic, first, first_id = _queued_report(device, 1)
        outbox.put(first_topic, first, key=first_id)
        wait_for(lambda: [e for e, _ in arrived] == [first_id], what="the first report sent")
        # no receipt for it: the next report still goes at once, not after the first's timeout
        second_topic, second, second_id = _queued_report(device, 2)
        outbox.put(second_topic, second, key=second_id)
        wait_for(
            lambda: second_id in {e for e, _ in arrived},
            timeout=3,
            what="the second report sent while the first waits for its receipt",
        )
        # it went before the first was sent again (the first's receipt wait had not run out)
        assert [e for e, _ in arrived][:2] == [first_id, second_id]
        controller.publish(
            topics.device_topic(device, "receipt"), encode(ReceiptMessage(ids=[second_id])), qos=1
        )
        # the first, never confirmed, goes again after its timeout (2-6 s) and only it does
        wait_for(
            lambda: [e for e, _ in arrived].count(first_id) >= 2,
            timeout=15,
            what="the unconfirmed report sent again",
        )
        assert [e for e, _ in arrived].count(second_id) == 1
        controller.publish(
            topics.device_topic(device, "receipt"), encode(ReceiptMessage(ids=[first_id])), qos=1
        )
        wait_for(lambda: len(outbox) == 0, what="the outbox empty once both are confirmed")
    finally:
        link.stop()
        controller.loop_stop()
        broker.stop()
