"""MQTT over TLS, as docs/operations.md sets up production: the Mosquitto the controller runs
listens with TLS (a certificate from the station's own CA) beside its loopback listener;
a device's enrolment config carries the CA, the broker's name and the TLS port, and the
agent checks the certificate and the host name. Log-ins and ACL hold on the TLS listener."""

from __future__ import annotations

import ssl
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from protocol import topics
from tests.support.mosquitto import free_port
from tests.support.mqtt_probe import Probe, acknowledged, barrier, own_login, published
from tests.support.stack import Stack, wait_for


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(
        tmp_path,
        free_port(),
        broker="mosquitto",
        mqtt_tls_port=free_port(),
        mqtt_public_host="localhost",
    ).start()  # TLS on every interface
    s.add_zone("thon-dong")
    yield s
    s.stop()


def _connects(
    port: int,
    host: str,
    context: ssl.SSLContext | None,
    username: str | None = None,
    password: str | None = None,
) -> str:
    """What happened: "connected", "refused <code>", or the TLS/socket error's name."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"p-{uuid.uuid4().hex[:6]}")
    if context is not None:
        client.tls_set_context(context)
    if username:
        client.username_pw_set(username, password)
    done = threading.Event()
    result: list[str] = []

    def on_connect(c, u, flags, reason, props):  # type: ignore[no-untyped-def]
        result.append("connected" if not reason.is_failure else f"refused {reason}")
        done.set()

    client.on_connect = on_connect
    try:
        client.connect(host, port, keepalive=10)
    except (ssl.SSLError, OSError) as exc:
        return type(exc).__name__
    client.loop_start()
    done.wait(5)
    client.loop_stop()
    client.disconnect()
    return result[0] if result else "no answer"


def test_a_device_enrolled_for_tls_plays_over_it_and_nothing_gets_in_without_the_ca(
    station: Stack, speech_wav
):
    s = station
    config = s.register("loa-1", ["thon-dong"])
    assert config.mqtt.tls
    assert config.mqtt.host == "localhost"
    assert config.mqtt.port == s.settings.mqtt_tls_port
    assert config.ca_pem
    assert "BEGIN CERTIFICATE" in config.ca_pem
    s.start_agent("loa-1")
    media = s.upload(speech_wav)
    b = s.broadcast(media["sha256"], ["zone:thon-dong"])
    s.wait_states(b["id"], {"played"}, timeout=60)  # commands, media, reports: all through TLS

    port = s.settings.mqtt_tls_port
    user, password = config.mqtt.username, config.mqtt.password
    trusted = config.tls_context()
    assert _connects(port, "localhost", trusted, user, password) == "connected"
    # the system's CAs do not know the station's: the handshake fails
    assert (
        _connects(port, "localhost", ssl.create_default_context(), user, password)
        == "SSLCertVerificationError"
    )
    # a name the certificate does not hold: refused even with the right CA
    assert _connects(port, "127.0.0.2", trusted, user, password) == "SSLCertVerificationError"
    # plain MQTT to the TLS port gets nowhere
    assert _connects(port, "localhost", None, user, password) != "connected"
    # the log-ins hold on the TLS listener too
    assert _connects(port, "localhost", trusted, user, "wrong").startswith("refused")
    assert _connects(port, "localhost", trusted).startswith("refused")


def test_plain_mqtt_off_loopback_is_refused_at_start(tmp_path):
    with pytest.raises(ValueError, match="mqtt_tls_port"):
        Stack(tmp_path, free_port(), broker="mosquitto", mqtt_host="0.0.0.0").start()


def test_the_broker_status_topic_of_each_controller_is_its_own(station: Stack):
    assert station.services is not None
    own = station.services.gateway.status_topic
    assert own == topics.controller_status(station.services.controller_id)
    assert own != topics.CONTROLLER_STATUS


def test_a_stolen_credential_over_tls_takes_no_other_session_and_a_queued_stop_reaches_its_device(
    station: Stack,
):
    """Over the TLS listener every device uses, a second credential connecting with another
    device's or the controller's client id takes nobody's session: no one is kicked, and a
    STOP queued for an offline loudspeaker waits for that loudspeaker alone."""
    s = station
    for device in ("loa-1", "loa-2"):
        s.register(device, ["thon-dong"])
        s.start_agent(device)
    assert s.services is not None
    context = s.configs["loa-1"].tls_context()
    thief_login = own_login(s, "loa-1")
    tls_port = s.settings.mqtt_tls_port
    victim = s.agents["loa-2"]
    victim_id = victim.link._client._client_id.decode()  # what a thief would have to name
    controller_ids = [
        f"loalang-controller-{s.services.controller_id}",
        f"loalang-controller-{s.services.controller_id}-cmd",
    ]
    # every controller status on the wire, read with a third device's log-in on loopback (a
    # second log-in with the controller's name would itself take the controller's session)
    s.register("loa-3", ["thon-dong"])
    watch = Probe(s, *own_login(s, "loa-3"))
    assert watch.settle()
    watch.subscribe(topics.CONTROLLER_STATUSES, topics.device_topic("loa-3", "receipt"))
    losses_before = victim.link.losses

    def thief(client_id: str, clean: bool) -> Probe:
        probe = Probe(
            s, *thief_login, client_id, tls=context, host="localhost", port=tls_port, clean=clean
        )
        assert probe.connected.wait(5), client_id
        return probe

    for name in [victim_id, "loalang-agent-loa-2", *controller_ids]:
        for clean in (True, False):
            thief(name, clean).close()
    # a session taken over is closed before the newcomer's CONNACK: had one been, loa-2 would
    # have lost its link before it could acknowledge a STOP sent after all of them, and a
    # controller's last will would be queued to the watch before the barrier's sentinel
    probe_stop = s.api.post("/api/stop", json={"targets": ["device:loa-2"], "reason": "thử"})
    assert probe_stop.status_code == 200, probe_stop.text
    acknowledged(s, "loa-2", probe_stop.json()["cmd_ids"][0])
    barrier(s, watch, "loa-3")
    assert victim.link.losses == losses_before  # never kicked
    assert victim.link.connected.is_set()
    assert topics.CONTROLLER_OFFLINE not in [payload for _, payload in watch.got]
    assert s.services.gateway.connected.is_set()

    # loa-2 offline, its persistent session kept by the broker; the thief logs in with
    # loa-2's client id, then a STOP for loa-2 is sent: it waits for loa-2 and reaches it
    victim.link.kill()
    wait_for(
        lambda: s.api.get("/api/devices/loa-2").json()["status"] == "offline",
        timeout=30,
        what="loa-2 offline",
    )
    s.agents.pop("loa-1").stop()  # (its own session would take turns with the thief's)
    stolen = thief(victim_id, clean=False)
    # (its client id is its own user name: at most it resumes loa-1's session)
    stolen.subscribe(topics.device_topic("loa-1", "receipt"))
    stop = s.api.post("/api/stop", json={"targets": ["device:loa-2"], "reason": "kiểm tra"})
    assert stop.status_code == 200, stop.text
    cmd_id = stop.json()["cmd_ids"][0]
    published(s, cmd_id)
    barrier(s, stolen, "loa-1")  # had the broker handed loa-2's queue to the thief: here
    assert not stolen.topics_about("loa-2")
    stolen.close()
    victim.stop()
    s.start_agent("loa-2")  # the same device, its own log-in and session
    acknowledged(s, "loa-2", cmd_id)  # the STOP queued for it
    watch.close()
