"""The controller's MQTT sessions: one publishes commands, one hands every agent report to a
callback.

Two connections, so a command never waits behind reports: over one connection the broker
sends the controller its inbound reports and the PUBACKs of its commands in one stream, and
under a fleet's flood a STOP's PUBACK once queued 5 s behind thousands of reports. The
report session carries the controller's own retained status (``controller/{id}/status``)
with a last-will; the command session the legacy ``controller/status`` older agents read.

paho-mqtt 2.x with the VERSION2 callback API; each session reconnects on its own and
resubscribes in ``on_connect`` (as Home Assistant does).
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from protocol import topics

log = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes], None]
ConnectHandler = Callable[[], None]


class NotConnected(RuntimeError):
    """The broker is unreachable right now; the caller retries later."""


@dataclass(frozen=True)
class BrokerLogin:
    """How the controller reaches the broker: address, its two user names (one per session:
    a broker that binds client ids to user names needs two), password, and TLS."""

    host: str
    port: int
    username: str | None = None
    command_username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    """TLS with this CA (hostname checked); None: plain MQTT (loopback only)."""


class MqttGateway:
    def __init__(
        self,
        login: BrokerLogin,
        on_message: MessageHandler,
        *,
        controller_id: str = "main",
        on_connected: ConnectHandler = lambda: None,
        on_reports_connected: ConnectHandler = lambda: None,
        watch: tuple[str, ...] = (),
        observe_publish: Callable[[float], None] = lambda seconds: None,
    ):
        """``on_message`` gets every agent report and every message on the ``watch`` topics
        (the retained messages the controller owns); ``on_connected`` runs on the network
        thread after each (re)connect of the command session, ``on_reports_connected`` of the
        report session (the broker then sends the retained copies again): hand work off."""
        self.observe_publish = observe_publish  # metrics
        self.host = login.host
        self.port = login.port
        self.status_topic = topics.controller_status(controller_id)
        self._login = login
        self._on_message = on_message
        self._on_connected = on_connected
        self._on_reports_connected = on_reports_connected
        self._watch = watch
        self.connected = threading.Event()  # the command session: what publish needs
        self.reports_connected = threading.Event()
        self._stopping = False
        self._controller_id = controller_id
        self._reports: mqtt.Client | None = None
        self._reports_lock = threading.Lock()
        self._commands = self._client(
            f"loalang-controller-{controller_id}-cmd",
            login.command_username or login.username,
            topics.CONTROLLER_STATUS,
        )
        self._commands.max_inflight_messages_set(1000)
        self._commands.max_queued_messages_set(0)
        self._commands.on_connect = self._handle_commands_connect
        self._commands.on_disconnect = self._handle_commands_disconnect

    def _client(self, client_id: str, username: str | None, will_topic: str) -> mqtt.Client:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=topics.client_id(client_id, self._login.password),
            clean_session=True,
            protocol=mqtt.MQTTv311,
        )
        if username:
            client.username_pw_set(username, self._login.password)
        if self._login.ca_file:
            client.tls_set(
                ca_certs=self._login.ca_file,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        client.will_set(will_topic, topics.CONTROLLER_OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        return client

    def start(self, reports: bool = True) -> None:
        """Connect the command session, and the report session unless ``reports`` is False
        (a follower controller: only the leader takes reports, ``start_reports``)."""
        self._commands.connect_async(self.host, self.port, keepalive=30)
        self._commands.loop_start()
        if reports:
            self.start_reports()

    def start_reports(self) -> None:
        """Take the fleet's reports (and say this controller is online to the agents)."""
        with self._reports_lock:
            if self._reports is not None:
                return
            client = self._client(
                f"loalang-controller-{self._controller_id}", self._login.username, self.status_topic
            )
            client.on_connect = self._handle_reports_connect
            client.on_disconnect = self._handle_reports_disconnect
            client.on_message = self._handle_message
            self._reports = client
            client.connect_async(self.host, self.port, keepalive=30)
            client.loop_start()

    def stop_reports(self) -> None:
        """Stop taking reports (a controller that lost the lead): ``offline``, disconnect."""
        with self._reports_lock:
            client, self._reports = self._reports, None
        if client is not None:
            self._say_offline(client, self.status_topic, self.reports_connected)
            self.reports_connected.clear()

    def stop(self) -> None:
        """Say ``offline`` on our own topics (the legacy one too: the keeper of another
        controller still running puts it back), then disconnect both sessions."""
        self._stopping = True
        self.stop_reports()
        self._say_offline(self._commands, topics.CONTROLLER_STATUS, self.connected)

    @staticmethod
    def _say_offline(client: mqtt.Client, topic: str, up: threading.Event) -> None:
        if up.is_set():
            info = client.publish(topic, topics.CONTROLLER_OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(2)
            except (RuntimeError, ValueError):
                pass
        client.disconnect()
        client.loop_stop()

    def wait_connected(self, timeout: float) -> bool:
        """Both sessions up (only the command session while reports are not taken)."""
        if not self.connected.wait(timeout):
            return False
        return self._reports is None or self.reports_connected.wait(timeout)

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        wait: float | None = 5.0,
    ) -> mqtt.MQTTMessageInfo:
        """Publish on the command session; with ``wait``, block until the broker has
        acknowledged it (QoS 1); without, the caller may wait on what is returned."""
        if not self.connected.is_set():
            raise NotConnected(f"not connected to {self.host}:{self.port}")
        began = time.monotonic()
        info = self._commands.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise NotConnected(mqtt.error_string(info.rc))
        if wait:
            info.wait_for_publish(wait)
            if not info.is_published():
                raise NotConnected(f"no PUBACK within {wait}s for {topic}")
            self.observe_publish(time.monotonic() - began)
        return info

    def _handle_commands_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        if reason_code.is_failure:
            log.warning("MQTT connect refused (commands): %s", reason_code)
            return
        client.publish(topics.CONTROLLER_STATUS, topics.CONTROLLER_ONLINE, qos=1, retain=True)
        self.connected.set()
        log.info("MQTT connected to %s:%s", self.host, self.port)
        try:
            self._on_connected()
        except Exception:
            log.exception("connect handler failed")

    def _handle_reports_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        if reason_code.is_failure:
            log.warning("MQTT connect refused (reports): %s", reason_code)
            return
        client.subscribe(
            [(t, 1) for t in [*topics.controller_subscriptions(), *self._watch, self.status_topic]]
        )
        client.publish(self.status_topic, topics.CONTROLLER_ONLINE, qos=1, retain=True)
        self.reports_connected.set()
        try:
            self._on_reports_connected()
        except Exception:
            log.exception("connect handler failed")

    def _handle_commands_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        self.connected.clear()
        if not self._stopping:
            log.warning("MQTT disconnected (%s); reconnecting", reason_code)

    def _handle_reports_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        if client is self._reports:
            self.reports_connected.clear()

    def _handle_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            self._on_message(msg.topic, msg.payload)
        except Exception:  # a bad report must never kill the network thread
            log.exception("error handling %s", msg.topic)
