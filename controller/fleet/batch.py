"""One batch of agent reports (status, telemetry, acks, events) applied to the database in one
transaction: parsed and checked, deduplicated by ``event_id``, deliveries moved, alarms opened
and closed; one by one if the batch as a whole fails. What it did comes back as a
``BatchResult`` (plain data: it crosses from the ingest process). ``ingest.py`` feeds it."""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from protocol import topics
from protocol.messages import (
    AckMessage,
    AgentEvent,
    AlarmEvent,
    DeviceState,
    HealthReport,
    HearingCalibratedEvent,
    HouseholdControlsEvent,
    MediaReadyEvent,
    PlaybackFailedEvent,
    PlaybackFinishedEvent,
    PlaybackHeardEvent,
    PlaybackStartedEvent,
    SecurityEvent,
    SmsEvent,
    StatusMessage,
    decode,
    to_builtins,
    utcnow,
)
from protocol.sms import PLAY_PREFIX

from ..db.models import (
    Alarm,
    Delivery,
    Device,
    DeviceEvent,
    DeviceStatusChange,
    DeviceTelemetry,
)
from ..domain.delivery import DeliveryState, advance
from ..domain.report_checks import Refusal
from .evidence import CommandFacts, Evidence
from .hearing import apply_calibration, apply_heard
from .household import apply_controls
from .security import refused_row, security_alarm
from .sms_reports import apply_sms_event, apply_sms_play

log = logging.getLogger(__name__)

MAX_REPORT_BYTES = 64 * 1024


@dataclass
class BatchResult:
    """What one applied batch did (crosses from the ingest process: plain data)."""

    processed: int = 0
    rejected: int = 0
    stored: dict[str, list[str]] = field(default_factory=dict)  # device → event ids
    touched: set[str] = field(default_factory=set)  # "fleet", "progress"
    failed: int = 0  # of the rejected: not refused for what they said, but not stored (an error)
    error: str | None = None  # the first such error, as text

    def merged(self, other: BatchResult) -> BatchResult:
        stored = {k: list(v) for k, v in self.stored.items()}
        for device_id, ids in other.stored.items():
            stored.setdefault(device_id, []).extend(ids)
        return BatchResult(
            self.processed + other.processed,
            self.rejected + other.rejected,
            stored,
            self.touched | other.touched,
            self.failed + other.failed,
            self.error or other.error,
        )


COMMAND_CACHE_MAX = 20_000
"""Recorded commands kept for report checks; reports name recent ones, older are read again."""


class Applier:
    """Parses a batch of raw reports and applies it in one transaction (one by one if the
    batch fails). Holds the command look-up cache: commands never change."""

    def __init__(self, sessions: sessionmaker[Session]):
        self._sessions = sessions
        self._commands: dict[str, CommandFacts] = {}

    def apply(self, batch: list[tuple[str, bytes, float]]) -> BatchResult:
        result = BatchResult()
        refused: dict[str, list[str]] = defaultdict(list)
        wall, mono = utcnow(), time.monotonic()  # CLOCK_MONOTONIC: the same in every process
        reports = [
            r
            for r in (
                _parse(topic, payload, result, refused, wall - timedelta(seconds=mono - received))
                for topic, payload, received in batch
            )
            if r
        ]
        stored: dict[str, list[str]] = defaultdict(list)
        for device_id, ids in refused.items():
            stored[device_id] += ids
        try:
            with self._sessions.begin() as session:
                applier = _BatchApplier(session, reports, self._commands)
                applied = applier.apply()
            result.processed += applied
            result.rejected += len(reports) - applied
            if len(self._commands) > COMMAND_CACHE_MAX:  # the oldest half goes (a few MB)
                for cmd_id in list(islice(self._commands, len(self._commands) // 2)):
                    del self._commands[cmd_id]
            for device_id, ids in applier.stored.items():
                stored[device_id] += ids
        except Exception:
            log.exception("ingest batch failed; retrying one by one")
            for report in reports:
                try:
                    with self._sessions.begin() as session:
                        applier = _BatchApplier(session, [report])
                        applied = applier.apply()
                    result.processed += applied
                    result.rejected += 1 - applied
                    for device_id, ids in applier.stored.items():
                        stored[device_id] += ids
                except Exception as exc:  # no receipt: the agent sends it again later
                    result.rejected += 1
                    result.failed += 1
                    result.error = result.error or f"{type(exc).__name__}: {exc}"
                    log.exception("dropping %s report from %s", report.kind, report.device_id)
        result.stored = dict(stored)
        result.touched = {t for t in (_live_topic(r) for r in reports) if t}
        return result


def _parse(
    topic: str,
    payload: bytes,
    result: BatchResult,
    refused: dict[str, list[str]],
    received_at: datetime,
) -> _Report | None:
    """Validate one report into its model; anything malformed is counted and dropped."""
    parsed = topics.parse_device_topic(topic)
    if parsed is None or len(payload) > MAX_REPORT_BYTES:
        result.rejected += 1
        return None
    try:
        if parsed.kind == "status":
            if not payload:  # retained status cleared
                return None
            model: Any = decode(payload, StatusMessage)
        elif parsed.kind == "telemetry":
            model = decode(payload, HealthReport)
        elif parsed.kind == "ack":
            model = decode(payload, AckMessage)
        elif parsed.kind == "event":
            model = decode(payload, AgentEvent)
        else:
            return None
    except ValueError as exc:
        result.rejected += 1
        log.warning("malformed %s report from %s: %s", parsed.kind, parsed.device_id, exc)
        event_id = _event_id(payload)
        if event_id is not None:  # refused for good: sending it again would not help
            refused[parsed.device_id].append(event_id)
        return None
    if model.device_id != parsed.device_id:  # a device may only speak for itself
        result.rejected += 1
        log.warning("%s report on %s claims device %s", parsed.kind, topic, model.device_id)
        return None
    return _Report(parsed.device_id, parsed.kind, model, min(received_at, utcnow()))


def _event_id(payload: bytes) -> str | None:
    """The event id of a report that did not decode, if it has a usable one."""
    try:
        value = json.loads(payload).get("event_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and 0 < len(value) <= 80 else None


def _live_topic(report: _Report) -> str | None:
    """What an open page must refresh after this report (``services.live``)."""
    if report.kind == "status" or isinstance(report.model, AlarmEvent):
        return "fleet"
    if report.kind in ("ack", "event"):
        return "progress"
    return None


@dataclass
class _Report:
    device_id: str
    kind: str
    model: Any
    received_at: datetime  # when its message reached the controller (not its batch's commit)


LAST_SEEN_EVERY_S = 10.0
"""A device's ``last_seen_at`` is written at most this often: a fleet's reports do not each
rewrite its row (pages and the offline alarm count in minutes)."""


class _BatchApplier:
    """Applies a batch in a handful of statements, whatever its size: the devices' light rows,
    the events and health rows inserted at once (duplicates skipped by the database), the
    commands and deliveries they concern, and one coalesced update per device that changed."""

    def __init__(
        self,
        session: Session,
        reports: list[_Report],
        command_cache: dict[str, CommandFacts] | None = None,
    ):
        self.session = session
        self.reports = reports
        device_ids = {r.device_id for r in reports}
        self.devices: dict[str, Any] = {
            row.id: row
            for row in session.execute(
                select(Device.id, Device.last_seen_at, Device.last_health_at).where(
                    Device.id.in_(device_ids), Device.retired.is_(False)
                )
            )
        }
        self.commands = command_cache if command_cache is not None else {}
        self.evidence = Evidence(
            session,
            (
                (r.device_id, r.model)
                for r in reports
                if r.kind in ("ack", "event") and r.device_id in self.devices
            ),
            self.commands,
        )
        self.stored: dict[str, list[str]] = defaultdict(list)  # device → event ids (receipts)
        self.refused: list[tuple[str, Refusal, Any]] = []

    def _broadcast_of(self, report: _Report) -> str | None:
        model = report.model
        if isinstance(model, (AckMessage, SecurityEvent)):
            facts = self.commands.get(model.cmd_id) if model.cmd_id else None
            return facts.broadcast_id if facts else None
        # play_id == broadcast_id for broadcasts; plays from schedules carry their own ids.
        return getattr(model, "broadcast_id", None) or getattr(model, "play_id", None)

    def apply(self) -> int:
        """Apply every report; returns how many came from known devices (duplicates included)."""
        applied = 0
        now = utcnow()
        events: list[_Report] = []
        rows: list[dict[str, Any]] = []
        health_rows: list[dict[str, Any]] = []
        changes: dict[str, dict[str, Any]] = defaultdict(dict)  # device → columns to write
        statuses: list[_Report] = []
        for report in self.reports:
            device = self.devices.get(report.device_id)
            if device is None:
                log.info("report from unknown device %s ignored", report.device_id)
                continue
            applied += 1
            model = report.model
            # a last-will is the broker speaking, not the device
            if not (report.kind == "status" and model.state is DeviceState.offline) and (
                device.last_seen_at is None
                or (now - device.last_seen_at).total_seconds() >= LAST_SEEN_EVERY_S
            ):
                changes[device.id]["last_seen_at"] = now
            if report.kind == "status":
                statuses.append(report)
                continue
            self.stored[device.id].append(model.event_id)
            if report.kind == "telemetry":
                health_rows.append(_telemetry_row(device.id, model))
                newest = changes[device.id].get("last_health_at") or device.last_health_at
                if newest is None or model.ts >= newest:
                    changes[device.id].update(
                        last_health=to_builtins(model), last_health_at=model.ts
                    )
                continue
            refused = self.evidence.refusal(device.id, model, report.received_at)
            if refused is not None:  # not about anything sent to it, or out of its window
                rows.append(refused_row(device.id, report.kind, model, refused, now))
                self.refused.append((device.id, refused, model))
                continue
            events.append(report)
            rows.append(
                dict(
                    event_id=model.event_id,
                    device_id=device.id,
                    type="ack" if report.kind == "ack" else model.type,
                    ts=model.ts,
                    received_at=report.received_at,
                    play_id=getattr(model, "play_id", None),
                    payload=to_builtins(model),
                )
            )
        new = self._insert_new(DeviceEvent, rows)
        if health_rows:
            self._insert_new(DeviceTelemetry, health_rows)
        fresh: list[_Report] = []
        for report in events:  # the same event twice in one batch is applied once
            if report.model.event_id in new:
                new.discard(report.model.event_id)
                fresh.append(report)
        self._apply_events(fresh)
        for device_id, refused, model in self.refused:
            if model.event_id in new:
                log.warning(
                    "report %s from %s refused: %s", model.event_id, device_id, refused.value
                )
                security_alarm(
                    self.session,
                    device_id,
                    f"{refused.value}: {getattr(model, 'play_id', None) or model.cmd_id}",
                    now,
                )
        for report in statuses:
            device = self.session.get(Device, report.device_id)
            if device is not None and _apply_status(device, report.model, now):
                self.session.add(
                    DeviceStatusChange(
                        device_id=device.id, status=device.status, at=device.status_at
                    )
                )
        self._write_devices(changes)
        return applied

    def _insert_new(self, table: Any, rows: list[dict[str, Any]]) -> set[str]:
        """Insert the rows whose ``event_id`` is not stored yet (an outbox sends again what
        had no receipt); returns the event ids inserted. One look-up, then one pipelined
        insert (``ON CONFLICT DO NOTHING`` for safety): RETURNING would make the driver parse
        one huge statement per page instead of reusing one short one."""
        if not rows:
            return set()
        ids = {r["event_id"] for r in rows}
        seen = set(self.session.scalars(select(table.event_id).where(table.event_id.in_(ids))))
        fresh: dict[str, dict[str, Any]] = {}
        for row in rows:
            if row["event_id"] not in seen:
                fresh.setdefault(row["event_id"], row)
        if fresh:
            dialect = self.session.get_bind().dialect.name
            if dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as dialect_insert
            else:
                from sqlalchemy.dialects.sqlite import insert as dialect_insert
            self.session.execute(
                dialect_insert(table).on_conflict_do_nothing(index_elements=["event_id"]),
                list(fresh.values()),
            )
        return set(fresh)

    def _apply_events(self, fresh: list[_Report]) -> None:
        """What the newly stored acks and events change: deliveries and alarms."""
        if not fresh:
            return
        keys = {
            (self._broadcast_of(r), r.device_id)
            for r in fresh
            if not isinstance(r.model, (AlarmEvent, HearingCalibratedEvent, HouseholdControlsEvent))
        }
        broadcast_ids = {b for b, _ in keys if b}
        devices = {d for _, d in keys}
        deliveries = (
            {
                (d.broadcast_id, d.device_id): d
                for d in self.session.scalars(
                    select(Delivery).where(
                        Delivery.broadcast_id.in_(broadcast_ids), Delivery.device_id.in_(devices)
                    )
                )
            }
            if broadcast_ids
            else {}
        )
        for report in fresh:
            model = report.model
            if isinstance(model, AlarmEvent):
                _apply_alarm(self.session, report.device_id, model)
                continue
            if isinstance(model, SmsEvent):
                apply_sms_event(self.session, report.device_id, model, utcnow())
                continue
            if isinstance(model, HearingCalibratedEvent):
                apply_calibration(self.session, report.device_id, model)
                continue
            if isinstance(model, HouseholdControlsEvent):
                apply_controls(self.session, report.device_id, model)
                continue
            if isinstance(model, (PlaybackStartedEvent, PlaybackFinishedEvent)) and (
                model.play_id.startswith(PLAY_PREFIX)
            ):
                apply_sms_play(self.session, report.device_id, model.play_id, model.actual_start)
            delivery = deliveries.get((self._broadcast_of(report), report.device_id))
            if report.kind == "ack":
                _apply_ack(delivery, model)
            elif isinstance(model, PlaybackHeardEvent):
                apply_heard(self.session, report.device_id, delivery, model)
            else:
                _apply_event(delivery, report.device_id, model)

    def _write_devices(self, changes: dict[str, dict[str, Any]]) -> None:
        """One UPDATE per set of changed columns, for every device at once (executemany)."""
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for device_id, values in changes.items():
            if values:
                by_columns[tuple(sorted(values))].append({"id": device_id, **values})
        for batch in by_columns.values():
            self.session.execute(update(Device), batch)


def _apply_status(device: Device, status: StatusMessage, now: datetime) -> bool:
    """Apply a retained status; True when the device's state changed (a row for history)."""
    changed = device.status != status.state.value
    if changed:
        device.status = status.state.value
        device.status_at = status.ts or now
    if status.version:
        device.version = status.version
    if status.capabilities:
        device.capabilities = list(status.capabilities)
    return changed


def _move(delivery: Delivery | None, state: DeliveryState, reason: str | None = None) -> None:
    if delivery is None:
        return
    new = advance(DeliveryState(delivery.state), state)
    if new != DeliveryState(delivery.state):
        delivery.state = new.value
        delivery.updated_at = utcnow()
        if reason is not None and new == state:
            delivery.reason = reason


def _apply_ack(delivery: Delivery | None, ack: AckMessage) -> None:
    if delivery is None:
        return
    if ack.accepted:
        delivery.acked_at = delivery.acked_at or ack.ts
        _move(delivery, DeliveryState.acked)
    else:
        _move(delivery, DeliveryState.failed, f"refused: {ack.reason}")


def _apply_event(delivery: Delivery | None, device_id: str, event: Any) -> None:
    if isinstance(event, SecurityEvent):
        log.warning("security event from %s: %s %s", device_id, event.reason, event.detail)
        if event.reason == "replayed":
            return  # a copy of a command already handled says nothing about its delivery
        if event.reason == "expired":
            _move(
                delivery,
                DeliveryState.missed,
                "command expired before the device received it (device was offline)",
            )
        else:
            _move(delivery, DeliveryState.failed, f"refused: {event.reason}")
    elif isinstance(event, MediaReadyEvent):
        if delivery is not None:
            delivery.media_ready_at = delivery.media_ready_at or event.ts
        _move(delivery, DeliveryState.media_ready)
    elif isinstance(event, PlaybackStartedEvent):
        if delivery is not None:
            delivery.started_at = event.actual_start
            delivery.joined_late_ms = event.joined_late_ms
        _move(delivery, DeliveryState.playing)
    elif isinstance(event, PlaybackFinishedEvent):
        if delivery is not None:
            delivery.started_at = event.actual_start
            delivery.ended_at = event.actual_end
            delivery.played_ms = event.played_ms
            delivery.joined_late_ms = event.joined_late_ms
            delivery.interrupted = event.interrupted
            if event.line_check is not None:
                delivery.line_check = to_builtins(event.line_check)
        if event.interrupted:
            _move(
                delivery,
                DeliveryState.interrupted,
                f"interrupted by {event.interrupted_by or 'stop'}",
            )
        elif event.resumed_after:  # the resume rule brought it back after a preemption
            _move(delivery, DeliveryState.played, f"resumed after {event.resumed_after}")
        else:
            _move(delivery, DeliveryState.played)
    elif isinstance(event, PlaybackFailedEvent):
        reason = event.reason + (f": {event.detail}" if event.detail else "")
        state = DeliveryState.missed if event.reason == "too_late" else DeliveryState.failed
        _move(delivery, state, reason)


def _apply_alarm(session: Session, device_id: str, event: AlarmEvent) -> None:
    """Open an alarm (or count a repeat of an open one), or close the open one."""
    open_alarm = session.scalars(
        select(Alarm)
        .where(Alarm.device_id == device_id, Alarm.key == event.key, Alarm.cleared_at.is_(None))
        .order_by(Alarm.id.desc())
        .limit(1)
    ).first()
    if event.active:
        if open_alarm is not None:
            open_alarm.occurrences += 1
            open_alarm.value = event.value
            open_alarm.detail = event.detail
            return
        log.warning("alarm on %s: %s %s", device_id, event.key, event.detail)
        session.add(
            Alarm(
                device_id=device_id,
                key=event.key,
                code=event.code.value,
                channel=event.channel,
                raised_at=event.ts,
                value=event.value,
                detail=event.detail,
                occurrences=1,
            )
        )
    elif open_alarm is not None and event.ts >= open_alarm.raised_at:
        open_alarm.cleared_at = event.ts


def _telemetry_row(device_id: str, report: HealthReport) -> dict[str, Any]:
    hw, net = report.hardware, report.network
    return dict(
        event_id=report.event_id,
        device_id=device_id,
        ts=report.ts,
        load_1m=report.load_1m,
        mem_available_mb=report.mem_available_mb,
        disk_free_mb=report.disk_free_mb,
        outbox_pending=report.outbox_pending,
        battery_v=hw.battery_v if hw else None,
        temperature_c=hw.temperature_c if hw else None,
        signal_dbm=net.signal_dbm if net else None,
    )
