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
from tests.support.stack import Stack


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path, free_port(), broker="mosquitto", mqtt_tls_port=free_port(),
              mqtt_public_host="localhost").start()  # TLS on every interface
    s.add_zone("thon-dong")
    yield s
    s.stop()


def _connects(port: int, host: str, context: ssl.SSLContext | None, username: str | None = None,
              password: str | None = None) -> str:
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
        station: Stack, speech_wav):
    s = station
    config = s.register("loa-1", ["thon-dong"])
    assert config.mqtt.tls and config.mqtt.host == "localhost"
    assert config.mqtt.port == s.settings.mqtt_tls_port
    assert config.ca_pem and "BEGIN CERTIFICATE" in config.ca_pem
    s.start_agent("loa-1")
    media = s.upload(speech_wav)
    b = s.broadcast(media["sha256"], ["zone:thon-dong"])
    s.wait_states(b["id"], {"played"}, timeout=60)  # commands, media, reports: all through TLS

    port = s.settings.mqtt_tls_port
    user, password = config.mqtt.username, config.mqtt.password
    trusted = config.tls_context()
    assert _connects(port, "localhost", trusted, user, password) == "connected"
    # the system's CAs do not know the station's: the handshake fails
    assert _connects(port, "localhost", ssl.create_default_context(), user, password) \
        == "SSLCertVerificationError"
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
