"""The controller's MQTT session: publishes commands, hands every agent report to a callback.

paho-mqtt 2.x with the VERSION2 callback API; reconnects on its own and resubscribes in
``on_connect``; availability on a retained status topic with a last-will (as Home Assistant
does).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from protocol import topics

log = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes], None]
ConnectHandler = Callable[[], None]


class NotConnected(RuntimeError):
    """The broker is unreachable right now; the caller retries later."""


class MqttGateway:
    def __init__(
        self,
        host: str,
        port: int,
        on_message: MessageHandler,
        *,
        username: str | None = None,
        password: str | None = None,
        client_id: str | None = None,
        on_connected: ConnectHandler = lambda: None,
        watch: tuple[str, ...] = (),
    ):
        """``on_message`` gets every agent report and every message on the ``watch`` topics
        (the retained messages the controller owns); ``on_connected`` runs on the network
        thread after each (re)connect, so it must only hand work off."""
        self.host = host
        self.port = port
        self._on_message = on_message
        self._on_connected = on_connected
        self._watch = watch
        self.connected = threading.Event()
        self._stopping = False
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"loalang-controller-{uuid.uuid4().hex[:8]}",
            clean_session=True,
            protocol=mqtt.MQTTv311,
        )
        if username:
            self._client.username_pw_set(username, password)
        self._client.will_set(topics.CONTROLLER_STATUS, topics.CONTROLLER_OFFLINE, qos=1,
                              retain=True)
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)
        self._client.max_inflight_messages_set(1000)
        self._client.max_queued_messages_set(0)
        self._client.on_connect = self._handle_connect
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_message = self._handle_message

    def start(self) -> None:
        self._client.connect_async(self.host, self.port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        self._stopping = True
        if self.connected.is_set():
            info = self._client.publish(topics.CONTROLLER_STATUS, topics.CONTROLLER_OFFLINE,
                                        qos=1, retain=True)
            try:
                info.wait_for_publish(2)
            except (RuntimeError, ValueError):
                pass
        self._client.disconnect()
        self._client.loop_stop()

    def wait_connected(self, timeout: float) -> bool:
        return self.connected.wait(timeout)

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                wait: float | None = 5.0) -> None:
        """Publish; with ``wait``, block until the broker has acknowledged it (QoS 1)."""
        if not self.connected.is_set():
            raise NotConnected(f"not connected to {self.host}:{self.port}")
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise NotConnected(mqtt.error_string(info.rc))
        if wait:
            info.wait_for_publish(wait)
            if not info.is_published():
                raise NotConnected(f"no PUBACK within {wait}s for {topic}")

    def _handle_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                        properties: Any) -> None:
        if reason_code.is_failure:
            log.warning("MQTT connect refused: %s", reason_code)
            return
        client.subscribe([(t, 1) for t in [*topics.controller_subscriptions(), *self._watch]])
        client.publish(topics.CONTROLLER_STATUS, topics.CONTROLLER_ONLINE, qos=1, retain=True)
        self.connected.set()
        log.info("MQTT connected to %s:%s", self.host, self.port)
        try:
            self._on_connected()
        except Exception:
            log.exception("connect handler failed")

    def _handle_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                        properties: Any) -> None:
        self.connected.clear()
        if not self._stopping:
            log.warning("MQTT disconnected (%s); reconnecting", reason_code)

    def _handle_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            self._on_message(msg.topic, msg.payload)
        except Exception:  # a bad report must never kill the network thread
            log.exception("error handling %s", msg.topic)
