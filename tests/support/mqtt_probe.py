"""A plain MQTT client holding someone's credential, for the tests of what a credential may do,
and the barrier that makes "it got nothing" a proof rather than a wait.

An absence proven by sleeping proves nothing on a loaded machine. The barrier is a message the
probe *would* get: a receipt the controller publishes on the probe's own ``receipt`` topic
after the message under test has reached the broker. Mosquitto and NATS queue what they route
to one session in order, so once the probe holds the sentinel, anything the broker routed to it
before is in its hands too."""

from __future__ import annotations

import ssl
import threading
import uuid
from typing import TYPE_CHECKING

import msgspec
import paho.mqtt.client as mqtt

from protocol import topics
from protocol.messages import ReceiptMessage
from tests.support.stack import wait_for

if TYPE_CHECKING:
    from tests.support.stack import Stack


class Probe:
    """What it got and whether it got in (``refused``: the CONNACK's reason code)."""

    def __init__(
        self,
        s: Stack,
        username: str | None,
        password: str | None,
        client_id: str | None = None,
        *,
        tls: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        clean: bool = True,
    ):
        self.got: list[tuple[str, bytes]] = []
        self.refused: int | None = None
        self.session_present: bool | None = None
        self.connected = threading.Event()
        self._subscribed = threading.Event()
        self.c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"probe-{uuid.uuid4().hex[:6]}",
            clean_session=clean,
        )
        if username is not None:
            self.c.username_pw_set(username, password)
        if tls is not None:
            self.c.tls_set_context(tls)
        self.c.on_connect = self._on_connect
        self.c.on_subscribe = lambda *_: self._subscribed.set()
        self.c.on_message = lambda c, u, m: self.got.append((m.topic, m.payload))
        self.c.connect(host, port or s.settings.mqtt_port, keepalive=10)
        self.c.loop_start()

    def _on_connect(self, c, u, flags, reason, props) -> None:  # type: ignore[no-untyped-def]
        if reason.is_failure:
            self.refused = reason.value
        else:
            self.session_present = flags.session_present
            self.connected.set()

    def settle(self) -> bool:
        """Connected (True) or refused or silent for 5 s (False)."""
        try:
            wait_for(
                lambda: self.connected.is_set() or self.refused is not None,
                timeout=5,
                interval=0.05,
                what="a CONNACK",
            )
        except AssertionError:
            return False
        return self.connected.is_set()

    def subscribe(self, *filters: str) -> None:
        """Subscribe and wait for the broker's SUBACK: from then on it routes to this probe
        (a refused filter is acknowledged too, with a failure code or silently)."""
        for topic_filter in filters:
            self._subscribed.clear()
            self.c.subscribe(topic_filter, qos=1)
            assert self._subscribed.wait(5), f"no SUBACK for {topic_filter}"

    def topics_about(self, device_id: str) -> list[str]:
        return [t for t, _ in self.got if f"/{device_id}/" in t]

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def own_login(s: Stack, device_id: str) -> tuple[str, str]:
    """The user name and password a device's agent was given."""
    config = s.configs[device_id]
    return config.mqtt.username or "", config.mqtt.password or ""


def barrier(s: Stack, probe: Probe, device_id: str) -> None:
    """Everything the broker routed to ``probe`` before now has reached it: the controller
    publishes, on its own command session (no second log-in of its name, which would take
    the controller's session over), a receipt naming no stored report (harmless to the real
    agent) on ``device_id``'s receipt topic, and the probe (which reads it) must get it."""
    assert s.services is not None
    sentinel = msgspec.json.encode(ReceiptMessage(ids=[f"barrier-{uuid.uuid4().hex}"]))
    s.services.gateway.publish(topics.device_topic(device_id, "receipt"), sentinel, wait=10)
    wait_for(
        lambda: any(payload == sentinel for _, payload in probe.got),
        timeout=10,
        interval=0.05,
        what="the barrier's sentinel at the probe",
    )


def published(s: Stack, cmd_id: str) -> None:
    """Wait until the broker has taken a command (its PUBACK reached the controller): only
    then is the broker's routing of it over and a barrier after it meaningful."""
    from controller.db.models import Command
    from controller.domain.command import CommandState

    assert s.services is not None

    def state() -> bool:
        with s.services.sessions() as session:  # type: ignore[union-attr]
            command = session.get(Command, cmd_id)
            return command is not None and command.state == CommandState.published

    wait_for(state, timeout=20, what=f"command {cmd_id} taken by the broker")


def acknowledged(s: Stack, device_id: str, cmd_id: str, timeout: float = 30) -> None:
    """Wait until ``device_id`` has acknowledged a command (the controller stored its ack):
    the command has crossed the broker (and every node of a cluster) to its device."""
    wait_for(
        lambda: [e for e in s.events(device_id=device_id) if e["payload"].get("cmd_id") == cmd_id],
        timeout=timeout,
        what=f"{device_id}'s acknowledgement of {cmd_id}",
    )
