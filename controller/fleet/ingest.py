"""Turn agent reports (status, telemetry, acks, events) into database rows.

One worker thread drains a queue in batches, so the MQTT thread never waits on the database
and SQLite sees a single writer. Reports are deduplicated by ``event_id``.
"""

from __future__ import annotations

import logging
import queue
import threading
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from protocol import topics
from protocol.messages import (
    AGENT_EVENT,
    AckMessage,
    HealthReport,
    MediaReadyEvent,
    PlaybackFailedEvent,
    PlaybackFinishedEvent,
    PlaybackStartedEvent,
    SecurityEvent,
    StatusMessage,
    utcnow,
)

from ..db.models import Command, Delivery, Device, DeviceEvent
from ..domain.delivery import DeliveryState, advance

log = logging.getLogger(__name__)

MAX_REPORT_BYTES = 64 * 1024


class Ingest:
    """Queue + worker that applies agent reports to the database."""

    def __init__(self, sessions: sessionmaker[Session], batch_size: int = 200):
        self._sessions = sessions
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
        self._batch_size = batch_size
        self._thread = threading.Thread(target=self._run, name="ingest", daemon=True)
        self.processed = 0
        self.rejected = 0
        self._idle = threading.Event()
        self._idle.set()
        self.listeners: list[Any] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def submit(self, topic: str, payload: bytes) -> None:
        """Called from the MQTT thread; never blocks on the database."""
        self._idle.clear()
        self._queue.put((topic, payload))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until everything submitted so far is in the database (tests, benchmarks)."""
        return self._idle.wait(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < self._batch_size:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._apply_batch(batch)
                    return
                batch.append(nxt)
            self._apply_batch(batch)
            if self._queue.empty():
                self._idle.set()

    def _apply_batch(self, batch: list[tuple[str, bytes]]) -> None:
        try:
            with self._sessions.begin() as session:
                for topic, payload in batch:
                    self._apply_one(session, topic, payload)
        except Exception:
            log.exception("ingest batch failed; retrying one by one")
            for topic, payload in batch:
                try:
                    with self._sessions.begin() as session:
                        self._apply_one(session, topic, payload)
                except Exception:
                    self.rejected += 1
                    log.exception("dropping report on %s", topic)
        for listener in list(self.listeners):
            try:
                listener(batch)
            except Exception:
                log.exception("ingest listener failed")

    def _apply_one(self, session: Session, topic: str, payload: bytes) -> None:
        parsed = topics.parse_device_topic(topic)
        if parsed is None or len(payload) > MAX_REPORT_BYTES:
            self.rejected += 1
            return
        device = session.get(Device, parsed.device_id)
        if device is None or device.retired:
            log.info("report from unknown device %s ignored", parsed.device_id)
            self.rejected += 1
            return
        try:
            if parsed.kind == "status":
                _apply_status(session, device, payload)
            elif parsed.kind == "telemetry":
                _apply_health(device, HealthReport.model_validate_json(payload))
            elif parsed.kind == "ack":
                _apply_ack(session, device, AckMessage.model_validate_json(payload))
            elif parsed.kind == "event":
                _apply_event(session, device, AGENT_EVENT.validate_json(payload))
            else:
                return
        except (ValidationError, ValueError) as exc:
            self.rejected += 1
            log.warning("malformed %s report from %s: %s", parsed.kind, device.id, exc)
            return
        self.processed += 1


def _apply_status(session: Session, device: Device, payload: bytes) -> None:
    if not payload:  # retained status cleared
        return
    status = StatusMessage.model_validate_json(payload)
    if status.device_id != device.id:
        raise ValueError("device id in payload does not match topic")
    now = utcnow()
    if device.status != status.state.value:
        device.status = status.state.value
        device.status_at = status.ts or now
    if status.version:
        device.version = status.version
    if status.capabilities:
        device.capabilities = list(status.capabilities)
    device.last_seen_at = now


def _apply_health(device: Device, report: HealthReport) -> None:
    if report.device_id != device.id:
        raise ValueError("device id in payload does not match topic")
    if device.last_health_at is None or report.ts >= device.last_health_at:
        device.last_health = report.model_dump(mode="json")
        device.last_health_at = report.ts
    device.last_seen_at = utcnow()


def _record(session: Session, device: Device, event_id: str, type_: str, ts: datetime,
            play_id: str | None, body: dict[str, Any]) -> bool:
    """Store a report once; False when this event id was already stored."""
    exists = session.scalar(select(DeviceEvent.id).where(DeviceEvent.event_id == event_id))
    if exists is not None:
        return False
    session.add(DeviceEvent(event_id=event_id, device_id=device.id, type=type_, ts=ts,
                            play_id=play_id, payload=body))
    session.flush()
    device.last_seen_at = utcnow()
    return True


def _delivery(session: Session, broadcast_id: str | None, device_id: str) -> Delivery | None:
    if not broadcast_id:
        return None
    return session.scalar(
        select(Delivery).where(Delivery.broadcast_id == broadcast_id,
                               Delivery.device_id == device_id)
    )


def _move(delivery: Delivery | None, state: DeliveryState, reason: str | None = None) -> None:
    if delivery is None:
        return
    new = advance(DeliveryState(delivery.state), state)
    if new != DeliveryState(delivery.state):
        delivery.state = new.value
        delivery.updated_at = utcnow()
        if reason is not None and new == state:
            delivery.reason = reason


def _apply_ack(session: Session, device: Device, ack: AckMessage) -> None:
    if ack.device_id != device.id:
        raise ValueError("device id in payload does not match topic")
    if not _record(session, device, ack.event_id, "ack", ack.ts, ack.play_id,
                   ack.model_dump(mode="json")):
        return
    command = session.get(Command, ack.cmd_id)
    delivery = _delivery(session, command.broadcast_id if command else None, device.id)
    if delivery is None:
        return
    if ack.accepted:
        delivery.acked_at = delivery.acked_at or ack.ts
        _move(delivery, DeliveryState.acked)
    else:
        _move(delivery, DeliveryState.failed, f"refused: {ack.reason}")


def _apply_event(session: Session, device: Device, event: Any) -> None:
    if event.device_id != device.id:
        raise ValueError("device id in payload does not match topic")
    play_id = getattr(event, "play_id", None)
    if not _record(session, device, event.event_id, event.type, event.ts, play_id,
                   event.model_dump(mode="json")):
        return
    if isinstance(event, SecurityEvent):
        log.warning("security event from %s: %s %s", device.id, event.reason, event.detail)
        command = session.get(Command, event.cmd_id) if event.cmd_id else None
        delivery = _delivery(session, command.broadcast_id if command else None, device.id)
        if event.reason == "expired":
            _move(delivery, DeliveryState.missed,
                  "command expired before the device received it (device was offline)")
        else:
            _move(delivery, DeliveryState.failed, f"refused: {event.reason}")
        return
    # play_id == broadcast_id for broadcasts; plays from schedules carry their own ids.
    delivery = _delivery(session, getattr(event, "broadcast_id", None) or play_id, device.id)
    if isinstance(event, MediaReadyEvent):
        if delivery is not None:
            delivery.media_ready_at = delivery.media_ready_at or event.ts
        _move(delivery, DeliveryState.media_ready)
    elif isinstance(event, PlaybackStartedEvent):
        if delivery is not None:
            delivery.started_at = event.actual_start
        _move(delivery, DeliveryState.playing)
    elif isinstance(event, PlaybackFinishedEvent):
        if delivery is not None:
            delivery.started_at = event.actual_start
            delivery.ended_at = event.actual_end
            delivery.played_ms = event.played_ms
            delivery.interrupted = event.interrupted
        if event.interrupted:
            _move(delivery, DeliveryState.interrupted,
                  f"interrupted by {event.interrupted_by or 'stop'}")
        else:
            _move(delivery, DeliveryState.played)
    elif isinstance(event, PlaybackFailedEvent):
        reason = event.reason + (f": {event.detail}" if event.detail else "")
        state = DeliveryState.missed if event.reason == "too_late" else DeliveryState.failed
        _move(delivery, state, reason)

