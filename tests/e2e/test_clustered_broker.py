"""The core path on both brokers the project supports: a single Mosquitto (a commune) and a
two-node NATS cluster with JetStream (a province), with the controller on one node and
loudspeakers on either: a broadcast plays everywhere, a plan is played from disk with the
broker down and reported once when it is back, and a power cut shows through the last-will."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from protocol.messages import utcnow
from tests.support.mosquitto import Mosquitto
from tests.support.nats import NatsCluster
from tests.support.schedules import one_off_at
from tests.support.stack import Stack, wait_for


@pytest.fixture(params=["mosquitto", "nats-cluster"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The broker under test; ``agent_port`` is where the second loudspeaker connects (the
    other node of the cluster)."""
    if request.param == "mosquitto":
        server: Any = Mosquitto(tmp_path / "mosquitto", persistence=True).start()
        server.agent_port = server.port
        server.access = {}
    else:  # with the controller's per-device log-ins and subjects, as a province runs it
        authorization = tmp_path / "nats" / "authorization.conf"
        server = NatsCluster(tmp_path / "nats", nodes=2, authorization=authorization).start()
        server.agent_port = server.mqtt_ports[1]
        server.access = dict(
            nats_authorization_file=authorization,
            mqtt_reload_command=server.reload_command,
            broker_log_file=tmp_path / "nats" / "n1.log",
        )
    yield server
    server.stop()


@pytest.fixture
def cluster_stack(tmp_path: Path, broker: Any) -> Iterator[Stack]:
    stack = Stack(tmp_path, broker.port, **broker.access).start()
    stack.add_zone("thon-dong")
    stack.register("loa-1", ["thon-dong"])
    stack.register("loa-2", ["thon-dong"], mqtt_port=broker.agent_port)
    for device_id in ("loa-1", "loa-2"):
        stack.start_agent(device_id)
    yield stack
    stack.stop()


def test_a_broadcast_plays_on_loudspeakers_on_every_node(cluster_stack: Stack, speech_wav):
    stack = cluster_stack
    media = stack.upload(speech_wav)
    b = stack.broadcast(
        media["sha256"], ["zone:thon-dong"], start_at=(utcnow() + timedelta(seconds=4)).isoformat()
    )
    stack.wait_states(b["id"], {"played"}, timeout=40)
    for device_id in ("loa-1", "loa-2"):
        assert len(stack.output_files(device_id)) == 1
    assert len(stack.events(type="playback.finished", play_id=b["id"])) == 2


def test_a_plan_plays_from_disk_with_the_broker_down_and_is_reported_once(
    cluster_stack: Stack, broker: Any, speech_wav
):
    stack = cluster_stack
    media = stack.upload(speech_wav)
    start = (utcnow() + timedelta(seconds=14)).replace(microsecond=0)
    r = stack.api.put("/api/schedules", json=one_off_at(start, media["sha256"]))
    assert r.status_code == 200, r.text
    assert r.json()["applied"], r.text
    for device_id in ("loa-1", "loa-2"):  # the retained plan reached the other node too
        path = stack.configs[device_id].data_path / "plan.json"
        wait_for(
            lambda path=path: (
                path.exists() and json.loads(path.read_text()).get("plan", {}).get("entries")
            ),
            what=f"the plan on {device_id}'s disk",
        )
        cache = stack.configs[device_id].data_path / "cache" / f"{media['sha256']}.opus"
        wait_for(cache.exists, what=f"media prefetched on {device_id}")

    broker.stop()  # every node: the province's broker is down for the bulletin
    for device_id in ("loa-1", "loa-2"):
        wait_for(
            lambda d=device_id: (
                len(stack.output_files(d)) == 1
                and stack.output_files(d)[0].with_suffix(".json").exists()
            ),
            timeout=40,
            what=f"{device_id} played its plan offline",
        )
    broker.start()
    finished = wait_for(
        lambda: (
            len(stack.events(type="playback.finished")) >= 2
            and stack.events(type="playback.finished")
        ),
        timeout=60,
        what="both plays reported once the broker is back",
    )
    for device_id in ("loa-1", "loa-2"):
        wait_for(
            lambda d=device_id: len(stack.agents[d].outbox) == 0,
            timeout=60,
            what=f"{device_id}'s outbox emptied by receipts",
        )
    assert sorted(e["device_id"] for e in stack.events(type="playback.finished")) == [
        "loa-1",
        "loa-2",
    ], finished


def test_a_power_cut_shows_through_the_last_will(cluster_stack: Stack):
    stack = cluster_stack
    wait_for(
        lambda: (
            {d["id"]: d["status"] for d in stack.api.get("/api/devices").json()}
            == {"loa-1": "online", "loa-2": "online"}
        ),
        what="both online",
    )
    stack.agents.pop("loa-2").kill()  # no goodbye: the broker publishes the will
    wait_for(
        lambda: (
            {d["id"]: d["status"] for d in stack.api.get("/api/devices").json()}
            == {"loa-1": "online", "loa-2": "offline"}
        ),
        timeout=60,
        what="loa-2 offline through its last-will",
    )


def test_a_stolen_pis_credential_does_only_its_own_job_on_the_cluster(
    cluster_stack: Stack, broker: Any
):
    """The controller's per-device subjects on NATS (Mosquitto's ACL has its own tests:
    test_broker_access.py): another device's commands, reports, the controller's status and
    an old token are all out of a stolen credential's reach, on every node."""
    if not broker.access:
        pytest.skip("Mosquitto's ACL: tests/e2e/test_broker_access.py")
    import msgspec

    from protocol import topics
    from protocol.messages import PlaybackFinishedEvent
    from tests.support.mqtt_probe import Probe, acknowledged, barrier, own_login

    stack = cluster_stack
    thief = Probe(stack, *own_login(stack, "loa-1"))
    assert thief.settle()
    thief.subscribe("#", topics.device_topic("loa-2", "cmd"), topics.ALL_PLANS)
    thief.subscribe(topics.device_topic("loa-1", "receipt"))  # its own: NATS refuses "#" whole
    now = utcnow()
    forged = msgspec.json.encode(
        PlaybackFinishedEvent(
            event_id="forged-1",
            device_id="loa-2",
            ts=now,
            play_id="p",
            broadcast_id="p",
            scheduled_start=now,
            actual_start=now,
            actual_end=now,
            played_ms=1,
        )
    )
    thief.c.publish(topics.device_topic("loa-2", "event"), forged, qos=1)
    thief.c.publish(topics.CONTROLLER_STATUS, topics.CONTROLLER_OFFLINE, qos=1, retain=True)
    stop = stack.api.post("/api/stop", json={"targets": ["device:loa-2"], "reason": "thu"})
    assert stop.status_code == 200, stop.text
    acknowledged(stack, "loa-2", stop.json()["cmd_ids"][0])  # across the cluster to loa-2
    barrier(stack, thief, "loa-1")  # and whatever was routed to the thief is in its hands
    assert not thief.topics_about("loa-2")
    assert [e for e in stack.events(device_id="loa-2") if e["event_id"] == "forged-1"] == []
    # the node's log says what it refused: loa-1's security event
    refused = wait_for(
        lambda: [
            e["payload"]
            for e in stack.events(type="security", device_id="loa-1")
            if e["payload"]["reason"] == "broker_denied"
        ],
        timeout=20,
        what="the cluster's refusal as loa-1's security event",
    )
    assert refused[0]["detail"] == "subscribe # ×1"  # the first at once (the rest: later)
    status = Probe(stack, *own_login(stack, "loa-2"))  # what loa-2 reads: still online
    assert status.settle()
    status.c.subscribe(topics.CONTROLLER_STATUS, qos=1)
    wait_for(lambda: status.got, timeout=5, what="the controller's retained status")
    assert status.got[-1][1] == topics.CONTROLLER_ONLINE

    def refused(username: str, password: str) -> bool:
        probe = Probe(stack, username, password)
        got_in = probe.settle()
        probe.close()
        return not got_in

    assert refused("loa-1", "khong-phai-mat-khau")
    old = own_login(stack, "loa-2")
    assert (
        stack.api.post("/api/devices/loa-2/rotate-token", params={"output": "file"}).status_code
        == 200
    )
    wait_for(
        lambda: refused(*old),
        timeout=10,
        what="the old token refused once every node re-read the log-ins",
    )
    thief.close()
    status.close()


def test_on_the_cluster_no_other_credential_can_name_a_session_or_speak_nats_itself(
    cluster_stack: Stack, broker: Any
):
    """NATS cannot bind a client id to a log-in as Mosquitto does: there a session is taken
    over by naming its client id. Every session's id carries a tag only its password's
    holder can compute, so a stolen credential can name none of them: trying the ids it could
    guess kicks no loudspeaker and no controller session. NATS's own protocol, which reaches
    beneath the MQTT layer, refuses every log-in the controller writes."""
    if not broker.access:
        pytest.skip("Mosquitto binds client ids to log-ins: tests/e2e/test_broker_tls.py")
    import socket

    from protocol import topics
    from tests.support.mqtt_probe import Probe, acknowledged, own_login

    stack = cluster_stack
    assert stack.services is not None
    victim = stack.agents["loa-2"]
    wait_for(victim.link.controller_online.is_set, what="loa-2 sees the controller")
    losses = victim.link.losses
    controller = stack.services.controller_id
    guesses = [
        "loalang-agent-loa-2",
        f"loalang-controller-{controller}",
        f"loalang-controller-{controller}-cmd",
    ]
    for name in guesses:
        thief = Probe(stack, *own_login(stack, "loa-1"), client_id=name)
        assert thief.settle(), name
        thief.close()
    # a session taken over is closed when the newcomer gets in: had one been, loa-2 would
    # have lost its link before it could acknowledge a STOP sent after all of them
    stop = stack.api.post("/api/stop", json={"targets": ["device:loa-2"], "reason": "thử"})
    assert stop.status_code == 200, stop.text
    acknowledged(stack, "loa-2", stop.json()["cmd_ids"][0])
    assert victim.link.losses == losses
    assert victim.link.connected.is_set()
    assert victim.link.controller_online.is_set()  # no controller session was taken either
    assert stack.services.gateway.connected.is_set()
    assert victim.link._client._client_id.decode() not in guesses

    # NATS's client port with a device's log-in: refused
    with socket.create_connection(("127.0.0.1", broker.client_ports[0]), timeout=5) as sock:
        sock.recv(4096)  # INFO
        user, password = own_login(stack, "loa-1")
        sock.sendall(
            f'CONNECT {{"user":"{user}","pass":"{password}","verbose":true}}\r\n'
            f"SUB {topics.PREFIX.replace('/', '.')}.> 1\r\nPING\r\n".encode()
        )
        answer = sock.recv(4096).decode()
    assert "-ERR" in answer, answer
    assert "PONG" not in answer, answer
