"""The agent's MQTT session: last-will, retained birth, resubscribe, and the outbox flusher.

A persistent session (clean_session=False, fixed client id) makes the broker keep QoS 1
commands for the agent while its link is down.

Reports leave the outbox only when the controller's receipt names them: a broker's PUBACK
means "the broker has it", and a broker whose queue for the controller is full drops it
(85 % of a fleet's burst after an outage once). The flusher keeps a window of reports in
flight, sends each new one as a receipt makes room, and sends them again if none comes. It
sends while any controller's retained status says ``online`` (each controller has its own
topic: one stopping cannot silence the fleet), after a random pause when the controller
comes back, so a fleet's backlog arrives spread out.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from protocol import topics
from protocol.messages import DeviceState, ReceiptMessage, StatusMessage, decode, encode, utcnow

from .backoff import Backoff
from .config import MqttConfig
from .outbox import Outbox, OutboxItem

log = logging.getLogger(__name__)

CommandHandler = Callable[[str, bytes], None]
FLUSH_WINDOW = 20
STABLE_LINK_S = 30.0  # a link that held this long starts the next backoff from the base


class MqttLink:
    def __init__(
        self,
        config: MqttConfig,
        device_id: str,
        zones: list[str],
        outbox: Outbox,
        on_command: CommandHandler,
        birth: Callable[[], StatusMessage],
        tls: ssl.SSLContext | None = None,
    ):
        self.config = config
        self.device_id = device_id
        self._zones = list(zones)
        self._outbox = outbox
        self._on_command = on_command
        self._birth = birth
        self.connected = threading.Event()
        self.controller_online = threading.Event()
        self._online_controllers: set[str] = set()
        self._receipt_topic = topics.device_topic(device_id, "receipt")
        self._awaiting: dict[str, OutboxItem] = {}  # sent, not yet confirmed: key -> item
        self._awaiting_lock = threading.Lock()
        self.resent = 0  # reports sent again for want of a receipt (health, benchmarks)
        self.losses = 0  # sessions lost (health)
        self._comeback = True  # the controller (re)appeared: a backlog waits a random pause
        self._stopping = threading.Event()
        self._zones_lock = threading.Lock()
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=topics.client_id(f"loalang-agent-{device_id}", config.password),
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        if config.username:
            self._client.username_pw_set(config.username, config.password)
        if tls is not None:  # certificate and host name checked (the context says so)
            self._client.tls_set_context(tls)
        will = StatusMessage(device_id=device_id, state=DeviceState.offline)
        self._client.will_set(
            topics.device_topic(device_id, "status"), encode(will), qos=1, retain=True
        )
        self._backoff = Backoff(base=config.reconnect_min_s, cap=config.reconnect_max_s)
        self._connected_at = 0.0
        self._client.reconnect_delay_set(
            min_delay=self._backoff.next(),  # type: ignore[arg-type]
            max_delay=self._backoff.cap,
        )  # type: ignore[arg-type]
        self._client.on_connect = self._handle_connect
        self._client.on_connect_fail = self._handle_connect_fail
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_message = self._handle_message
        self._flusher = threading.Thread(target=self._flush_loop, name="outbox", daemon=True)

    def start(self) -> None:
        self._client.connect_async(
            self.config.host, self.config.port, keepalive=self.config.keepalive_s
        )
        self._client.loop_start()
        self._flusher.start()

    def stop(self, publish_offline: bool = True) -> None:
        """Clean shutdown: say 'stopped' ourselves, so a technician can tell a service stopped
        on purpose from a lost link (the will, 'offline', fires only on a lost link)."""
        self._stopping.set()
        self._outbox.changed.set()
        if publish_offline and self.connected.is_set():
            msg = StatusMessage(device_id=self.device_id, state=DeviceState.stopped, ts=utcnow())
            info = self._client.publish(
                topics.device_topic(self.device_id, "status"), encode(msg), qos=1, retain=True
            )
            try:
                info.wait_for_publish(2)
            except (RuntimeError, ValueError):
                pass
        self._client.disconnect()
        self._client.loop_stop()
        self._flusher.join(timeout=5)

    def kill(self) -> None:
        """Drop the connection without a goodbye (tests: the broker publishes the will)."""
        self._stopping.set()
        self._outbox.changed.set()
        self._client.loop_stop()
        sock = self._client.socket()
        if sock is not None:
            sock.close()

    def publish_now(self, topic: str, payload: bytes) -> None:
        """A report that could not be queued on disk: QoS 1 from memory, if connected."""
        if self.connected.is_set():
            self._client.publish(topic, payload, qos=1)

    def publish_status(self, status: StatusMessage) -> None:
        self._client.publish(
            topics.device_topic(self.device_id, "status"), encode(status), qos=1, retain=True
        )

    def set_zones(self, zones: list[str]) -> None:
        with self._zones_lock:
            old = set(self._zones)
            self._zones = list(zones)
        if self.connected.is_set():
            gone = [topics.zone_cmd(z) for z in old - set(zones)]
            new = [(topics.zone_cmd(z), 1) for z in set(zones) - old]
            if gone:
                self._client.unsubscribe(gone)
            if new:
                self._client.subscribe(new)

    # --- paho callbacks (network thread) ------------------------------------------------------

    def _handle_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        if reason_code.is_failure:
            log.warning("MQTT connect refused: %s", reason_code)
            return
        with self._zones_lock:
            subs = topics.agent_subscriptions(self.device_id, self._zones)
        client.subscribe([(t, 1) for t in [*subs, self._receipt_topic, topics.CONTROLLER_STATUSES]])
        self.publish_status(self._birth())
        self.connected.set()
        self._connected_at = time.monotonic()
        self._outbox.changed.set()
        log.info("MQTT connected to %s:%s", self.config.host, self.config.port)

    def _next_delay(self) -> float:
        """Tell paho how long to wait before its next try: jittered, growing while it fails."""
        delay = self._backoff.next()
        # reconnect_delay_set also resets paho's own doubling, so this is the exact wait.
        self._client.reconnect_delay_set(min_delay=delay, max_delay=delay)  # type: ignore[arg-type]
        return delay

    def _handle_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        delay = self._next_delay()
        log.info("MQTT broker unreachable; next try in %.1f s", delay)

    def _handle_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        self.connected.clear()
        self.losses += 1
        self._online_controllers.clear()  # learnt again from the retained statuses
        self.controller_online.clear()
        if self._connected_at and time.monotonic() - self._connected_at > STABLE_LINK_S:
            self._backoff.reset()
        self._connected_at = 0.0
        delay = self._next_delay()
        if not self._stopping.is_set():
            log.warning("MQTT link lost (%s); reconnecting in %.1f s", reason_code, delay)

    def _handle_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        controller = topics.parse_controller_status(msg.topic)
        if controller is not None:
            self._controller_status(controller, msg.payload)
            return
        if msg.topic == self._receipt_topic:
            self._handle_receipt(msg.payload)
            return
        with self._zones_lock:
            subscribed = topics.agent_subscriptions(self.device_id, self._zones)
        if msg.topic not in subscribed:
            # Not ours (seen with amqtt, which can hand out unrelated retained messages).
            log.debug("ignoring message on unsubscribed topic %s", msg.topic)
            return
        try:
            self._on_command(msg.topic, msg.payload)
        except Exception:
            log.exception("error handling command on %s", msg.topic)

    def _controller_status(self, controller: str, payload: bytes) -> None:
        was = self.controller_online.is_set()
        if payload == topics.CONTROLLER_ONLINE:
            self._online_controllers.add(controller)
        else:
            self._online_controllers.discard(controller)
        if self._online_controllers and not was:
            self._comeback = True
            self.controller_online.set()
            self._outbox.changed.set()
            log.info("controller %s online: sending the outbox", controller)
        elif not self._online_controllers and was:
            self.controller_online.clear()
            log.info("no controller online: reports wait in the outbox")

    def _handle_receipt(self, payload: bytes) -> None:
        """Network thread: delete what the controller has stored."""
        try:
            receipt = decode(payload, ReceiptMessage)
        except ValueError:
            log.warning("malformed receipt ignored")
            return
        with self._awaiting_lock:
            done = [self._awaiting.pop(k) for k in receipt.ids if k in self._awaiting]
        for item in done:
            self._outbox.remove(item)
        if done:
            self._outbox.changed.set()  # room in the window: the flusher sends more

    # --- outbox -------------------------------------------------------------------------------

    def _flush_loop(self) -> None:
        """Keep up to ``FLUSH_WINDOW`` reports in flight, oldest first: a new report goes out
        while earlier ones wait for their receipt (an ack never waits for the receipt of the
        report before it). If a window sent gets no receipt in time, everything in flight
        goes again, in order, and the wait doubles (a slow controller)."""
        timeout = self.config.receipt_timeout_s
        windows: list[tuple[float, set[str]]] = []  # (given up at, keys) in the order sent
        changed = self._outbox.changed  # new reports, and receipts, both set it
        while not self._stopping.is_set():
            changed.wait(
                timeout=5 if not windows else max(0.0, min(5.0, windows[0][0] - time.monotonic()))
            )
            changed.clear()
            while self._can_send():
                if self._comeback:
                    self._comeback = False
                    if len(self._outbox) > FLUSH_WINDOW:  # a backlog, not the daily trickle
                        if self._stopping.wait(random.uniform(0, self.config.flush_jitter_s)):
                            return
                        continue  # the link may have gone meanwhile
                with self._awaiting_lock:
                    in_flight = set(self._awaiting)
                if len(windows) != len(kept := [w for w in windows if w[1] & in_flight]):
                    timeout = self.config.receipt_timeout_s  # confirmed in time
                windows = kept
                if windows and time.monotonic() >= windows[0][0]:
                    self.resent += self._forget_awaiting()
                    timeout = min(timeout * 2, 60.0)  # back off, each agent at its own pace
                    windows = []
                    continue
                room = FLUSH_WINDOW - len(in_flight)
                items = (
                    []
                    if room <= 0
                    else [
                        item
                        for item in self._outbox.pending(FLUSH_WINDOW + len(in_flight))
                        if item.key is None or item.key not in in_flight
                    ][:room]
                )
                if not items:
                    break  # wait for receipts, new reports or the deadline
                if not self._publish_in_order(items):
                    time.sleep(1)
                    break
                keys = {item.key for item in items if item.key is not None}
                if keys:
                    windows.append((time.monotonic() + timeout * random.uniform(0.5, 1.5), keys))
            if not self._can_send():
                windows = []  # the link or the controller went: all goes again when back
                self.resent += self._forget_awaiting()

    def _can_send(self) -> bool:
        return (
            self.connected.is_set()
            and self.controller_online.is_set()
            and not self._stopping.is_set()
        )

    def _publish_in_order(self, items: list[OutboxItem]) -> bool:
        infos = []
        with self._awaiting_lock:
            for item in items:
                if item.key is not None:
                    self._awaiting[item.key] = item
        for item in items:
            info = self._client.publish(item.topic, item.payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                break
            infos.append((item, info))
        for item, info in infos:
            try:
                info.wait_for_publish(10)
            except (RuntimeError, ValueError):
                return False
            if not info.is_published():
                return False
            if item.key is None:  # written by an older agent: the broker's word must do
                self._outbox.remove(item)
        return len(infos) == len(items)

    def _forget_awaiting(self) -> int:
        """Unconfirmed reports stay in the outbox and go again with the next window."""
        with self._awaiting_lock:
            count = len(self._awaiting)
            self._awaiting.clear()
        return count
