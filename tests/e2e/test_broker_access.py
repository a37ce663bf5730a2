"""The broker plane with one stolen Pi's credential, against the Mosquitto the controller runs
with the password file and ACL it makes from its registry: the device can do its own job and
nothing else; a rotated or retired credential is refused at once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from protocol import topics
from tests.support.mosquitto import free_port
from tests.support.mqtt_probe import Probe, barrier, own_login, published
from tests.support.stack import Stack, wait_for


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path, free_port(), broker="mosquitto").start()
    s.add_zone("thon-dong")
    s.add_zone("thon-tay")
    s.register("loa-1", ["thon-dong"])
    s.register("loa-2", ["thon-tay"])
    s.start_agent("loa-1")
    s.start_agent("loa-2")
    yield s
    s.stop()


def test_a_devices_credential_does_its_own_job_and_nothing_else(station: Stack, speech_wav):
    s = station
    assert s.configs["loa-1"].mqtt.username == "loa-1"  # its own log-in, not the controller's
    media = s.upload(speech_wav)
    b = s.broadcast(media["sha256"], ["all"])
    s.wait_states(b["id"], {"played"}, timeout=60)  # the fleet works through the ACL

    s.agents.pop("loa-1").stop()  # the stolen Pi is off its pole; its credential in use
    thief = Probe(s, *own_login(s, "loa-1"), client_id="loalang-agent-loa-2")
    assert thief.settle()
    thief.subscribe("#", topics.device_topic("loa-2", "cmd"))
    # forged reports as loa-2 and a retained "offline" for the controller
    from datetime import datetime

    import msgspec

    from protocol.messages import MediaReadyEvent, PlaybackFinishedEvent, utcnow

    at = datetime.fromisoformat(s.get_broadcast(b["id"])["start_at"])
    forged = msgspec.json.encode(
        PlaybackFinishedEvent(
            event_id="forged-1",
            device_id="loa-2",
            ts=utcnow(),
            play_id=b["id"],
            broadcast_id=b["id"],
            scheduled_start=at,
            actual_start=at,
            actual_end=at,
            played_ms=1,
        )
    )
    thief.c.publish(topics.device_topic("loa-2", "event"), forged, qos=1).wait_for_publish(5)
    thief.c.publish(
        topics.device_topic("loa-2", "status"), b'{"state":"offline"}', qos=1, retain=True
    ).wait_for_publish(5)
    thief.c.publish(
        topics.CONTROLLER_STATUS, topics.CONTROLLER_OFFLINE, qos=1, retain=True
    ).wait_for_publish(5)
    # then one report it may send, as itself: once the controller has stored it, the forged
    # one (sent before it on the same connection) would have been stored too
    own = MediaReadyEvent(
        event_id="after-forged",
        device_id="loa-1",
        ts=utcnow(),
        play_id=b["id"],
        sha256=media["sha256"],
    )
    thief.c.publish(
        topics.device_topic("loa-1", "event"), msgspec.json.encode(own), qos=1
    ).wait_for_publish(5)
    wait_for(
        lambda: [e for e in s.events(device_id="loa-1") if e["event_id"] == "after-forged"],
        what="the thief's own report stored",
    )
    # a STOP for loa-2 goes to loa-2, not to the thief connected with loa-2's client id
    stop = s.api.post("/api/stop", json={"targets": ["device:loa-2"], "reason": "thu"})
    assert stop.status_code == 200, stop.text
    published(s, stop.json()["cmd_ids"][0])
    barrier(s, thief, "loa-1")  # had the broker routed the STOP to the thief, it would be here
    assert not thief.topics_about("loa-2")
    assert not [t for t, _ in thief.got if t == topics.ALL_PLANS]
    assert [e for e in s.events(device_id="loa-2") if e["event_id"] == "forged-1"] == []
    devices = {d["id"]: d for d in s.api.get("/api/devices").json()}
    assert devices["loa-2"]["status"] == "online"  # the forged status did not reach it
    assert s.agents["loa-2"].link.connected.is_set()  # and it was never kicked
    second = Probe(s, *own_login(s, "loa-2"))  # what loa-2 reads: the controller still online
    assert second.settle()
    second.c.subscribe(topics.CONTROLLER_STATUS, qos=1)
    wait_for(lambda: second.got, timeout=5, what="the controller's retained status")
    assert second.got[-1][1] == topics.CONTROLLER_ONLINE
    thief.close()
    second.close()


def test_no_one_gets_in_without_a_registered_credential(station: Stack):
    s = station
    anonymous = Probe(s, None, None)
    assert not anonymous.settle()
    assert anonymous.refused is not None
    bogus = Probe(s, "loa-1", "loa-1.khong-phai-mat-khau")
    assert not bogus.settle()
    controller_name = Probe(s, "loalang-controller", own_login(s, "loa-1")[1])
    assert not controller_name.settle()


def test_a_rotated_or_retired_credential_is_refused_at_once(station: Stack):
    s = station
    old = own_login(s, "loa-1")
    rotated = s.api.post("/api/devices/loa-1/rotate-token", params={"output": "file"})
    assert rotated.status_code == 200, rotated.text
    assert not Probe(s, *old).settle()
    assert 'username = "loa-1"' in rotated.json()["config_toml"]
    retired_creds = own_login(s, "loa-2")
    assert s.api.post("/api/devices/loa-2/retire").status_code == 200
    assert not Probe(s, *retired_creds).settle()


def test_a_retired_device_is_put_off_the_broker_and_gets_no_more_commands(
    station: Stack, speech_wav
):
    s = station
    retired = own_login(s, "loa-2")
    assert s.api.post("/api/devices/loa-2/retire").status_code == 200
    # the broker re-reads its log-ins and drops the connection; reconnecting is refused
    wait_for(
        lambda: not s.agents["loa-2"].link.connected.is_set(),
        timeout=10,
        what="the retired device off the broker",
    )
    media = s.upload(speech_wav)
    b = s.broadcast(media["sha256"], ["all"])
    s.wait_states(b["id"], {"played"}, timeout=60)
    assert [d["device_id"] for d in s.get_broadcast(b["id"])["deliveries"]] == ["loa-1"]
    # "all" cannot reach it on the wire either: its log-in is refused, so it holds no session
    # and no subscription (its agent has been retrying all along)
    assert not s.agents["loa-2"].link.connected.is_set()
    probe = Probe(s, *retired)
    assert not probe.settle()
    assert probe.refused is not None
    probe.close()


def test_a_retired_pi_still_on_its_pole_is_emptied_before_its_log_in_goes(
    station: Stack, speech_wav
):
    """Else it went on playing its plan on disk, unrecorded, with no link to stop it."""
    import json

    from protocol.messages import utcnow

    s = station
    media = s.upload(speech_wav)
    later = (utcnow() + timedelta(seconds=40)).isoformat()
    s.broadcast(media["sha256"], ["zone:thon-tay"], start_at=later)
    plan = s.configs["loa-2"].data_path / "plan.json"
    wait_for(
        lambda: plan.exists() and json.loads(plan.read_text())["plan"]["entries"],
        what="the bulletin in loa-2's plan on disk",
    )
    assert s.api.post("/api/devices/loa-2/retire").status_code == 200
    agent = s.agents["loa-2"]
    assert json.loads(plan.read_text())["plan"]["entries"] == []  # emptied first
    assert agent.state.zones == []
    wait_for(lambda: not agent.link.connected.is_set(), timeout=10, what="then off the broker")


def test_the_broker_drops_a_message_over_a_mebibyte_before_anyone_reads_it(station: Stack):
    """100 MB on a device's own event topic once took the controller from 112 to 333 MB."""
    import msgspec

    from protocol.messages import MediaReadyEvent, utcnow

    s = station
    own = Probe(s, *own_login(s, "loa-1"))
    assert own.settle()

    def event(event_id: str, pad: int) -> bytes:
        e = msgspec.json.encode(
            MediaReadyEvent(
                event_id=event_id, device_id="loa-1", ts=utcnow(), play_id="p", sha256="ab" * 32
            )
        )
        return e[:-1] + b',"pad":"' + b"x" * pad + b'"}'

    topic = topics.device_topic("loa-1", "event")
    assert s.services is not None
    refused_before = s.services.ingest.rejected
    own.c.publish(topic, event("huge-1", 2 * 1024 * 1024), qos=1).wait_for_publish(10)
    own.c.publish(topic, event("small-1", 0)[: -len(b',"pad":""}')] + b"}", qos=1).wait_for_publish(
        10
    )
    wait_for(
        lambda: [e for e in s.events(device_id="loa-1") if e["event_id"] == "small-1"],
        what="the small one stored",
    )
    assert [e for e in s.events(device_id="loa-1") if e["event_id"] == "huge-1"] == []
    assert s.services.ingest.rejected == refused_before  # it never reached the controller
    own.close()


def test_reports_a_device_could_not_have_made_are_refused_and_shown_to_the_technician(
    station: Stack, speech_wav
):
    """Over the real broker with real log-ins: loa-1's own credential claims a bulletin not
    yet due as played, and loa-2 reports a bulletin sent only to loa-1. Neither reaches the
    broadcast log; both are security events and a technician's alarm."""
    import msgspec

    from protocol.messages import PlaybackFinishedEvent, utcnow

    s = station
    media = s.upload(speech_wav)
    later = utcnow() + timedelta(minutes=10)
    b = s.broadcast(media["sha256"], ["device:loa-1"], start_at=later.isoformat())
    start = datetime.fromisoformat(s.get_broadcast(b["id"])["start_at"])

    def finished(event_id: str, device: str, at: datetime) -> bytes:
        return msgspec.json.encode(
            PlaybackFinishedEvent(
                event_id=event_id,
                device_id=device,
                ts=utcnow(),
                play_id=b["id"],
                broadcast_id=b["id"],
                scheduled_start=start,
                actual_start=at,
                actual_end=at + timedelta(seconds=3),
                played_ms=3000,
            )
        )

    own = Probe(s, *own_login(s, "loa-1"))
    neighbour = Probe(s, *own_login(s, "loa-2"))
    assert own.settle()
    assert neighbour.settle()
    own.c.publish(
        topics.device_topic("loa-1", "event"),
        finished("forged-early", "loa-1", utcnow() - timedelta(seconds=5)),
        qos=1,
    )
    neighbour.c.publish(
        topics.device_topic("loa-2", "event"), finished("forged-neighbour", "loa-2", start), qos=1
    )
    security = wait_for(
        lambda: (
            {
                e["event_id"]: e
                for e in s.events(type="security")
                if e["event_id"].startswith("forged-")
            }.values()
            if len([e for e in s.events(type="security") if e["event_id"].startswith("forged-")])
            == 2
            else None
        ),
        what="both forgeries stored as security events",
    )
    reasons = {e["event_id"]: e["payload"]["detail"] for e in security}
    assert reasons == {"forged-early": "before_start", "forged-neighbour": "not_sent"}
    assert [e for e in s.api.get("/api/playback-log").json() if e.get("play_id") == b["id"]] == []
    assert all(
        d["state"] not in ("played", "playing") for d in s.get_broadcast(b["id"])["deliveries"]
    )
    alarms = {a["device_id"]: a for a in s.alarms() if a["code"] == "security"}
    assert set(alarms) == {"loa-1", "loa-2"}
    page = s.api.get("/ui/alarms")
    assert "làm điều không được phép" in page.text
    own.close()
    neighbour.close()


def test_what_the_broker_refuses_a_device_becomes_its_security_events_at_a_measured_rate(
    station: Stack,
):
    """A stolen Pi probing ``#`` and publishing as its neighbour: Mosquitto refuses it (or,
    for a subscription, filters what it delivers); the controller reads the refusals from
    the broker's log and shows them on that device, one event a minute however many."""
    s = station
    s.agents.pop("loa-1").stop()  # (else the two sessions of one client id take turns)
    thief = Probe(s, *own_login(s, "loa-1"))
    assert thief.settle()
    thief.subscribe("#")
    for _ in range(50):
        thief.c.publish(topics.device_topic("loa-2", "event"), b"{}", qos=1)
    thief.c.publish(
        topics.CONTROLLER_STATUS, topics.CONTROLLER_OFFLINE, qos=1, retain=True
    ).wait_for_publish(5)
    events = wait_for(
        lambda: [
            e
            for e in s.events(type="security", device_id="loa-1")
            if e["payload"]["reason"] == "broker_denied"
        ],
        timeout=20,
        what="the broker's refusal as loa-1's security event",
    )
    assert len(events) == 1  # the first at once; the rest counted into the next
    assert s.services is not None
    wait_for(
        lambda: s.services.denials.seen_total >= 52,
        timeout=10,
        what="every refusal read from the broker's log",
    )
    s.services.denials._every_s = 0.0  # (a minute later)
    s.services.denials.flush()
    events = [
        e["payload"]
        for e in s.events(type="security", device_id="loa-1")
        if e["payload"]["reason"] == "broker_denied"
    ]
    assert sum(e["denials"] for e in events) == 52
    assert len(events) == 2
    details = " ".join(e["detail"] for e in events)
    assert "subscribe #" in details
    assert f"publish {topics.device_topic('loa-2', 'event')}" in details
    assert f"publish {topics.CONTROLLER_STATUS}" in details
    [alarm] = [a for a in s.alarms(device_id="loa-1") if a["code"] == "security"]
    assert alarm["occurrences"] == 52
    assert s.events(type="security", device_id="loa-2") == []  # the victim did nothing
    page = s.api.get("/ui/devices/loa-1").text
    assert "Máy chủ MQTT từ chối truy cập" in page
    assert "loalang_broker_denials_total 52.0" in s.api.get("/metrics").text
    log = (s.settings.data_dir / "mosquitto" / "mosquitto.log").read_text()
    assert "Denied PUBLISH" in log
    assert "Received PUBLISH" not in log
    thief.close()
