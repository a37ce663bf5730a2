"""SQLAlchemy models: zones, devices, media, broadcasts, per-device deliveries, the device log."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from ..domain.broadcast import BroadcastState
from ..domain.command import CommandState
from ..domain.delivery import DeliveryState
from ..domain.device import DeviceKind, DeviceStatus
from ..domain.jobs import MediaJobState
from ..domain.rollout import RolloutState, TargetState
from ..domain.schedule_change import ScheduleChangeState
from ..domain.text import fold
from ..notices.rules import NoticeState


class UtcDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: the same on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


class EnumText(TypeDecorator[Any]):
    """A state enum kept as its value in a VARCHAR: a member goes in (a value that is not one
    is refused before the database sees it), a member comes out. The stored text is what it
    was before the columns were typed, so no migration changes a row."""

    impl = String
    cache_ok = True

    def __init__(self, enum_cls: type[enum.Enum], length: int):
        super().__init__(length)
        self.enum_cls = enum_cls

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else str(self.enum_cls(value).value)

    def process_result_value(self, value: str | None, dialect: Any) -> Any:
        return None if value is None else self.enum_cls(value)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Zone(Base):
    """A village (thôn/bản) or any named group of devices."""

    __tablename__ = "zones"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # what warning centres call it in a CAP alert's <geocode> ("VALUE" or "valueName=VALUE")
    geocodes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # the languages its people hear, in the order a bulletin's versions are played to them
    languages: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["vi"])
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)


class DeviceZone(Base):
    __tablename__ = "device_zones"
    device_id: Mapped[str] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    zone_id: Mapped[str] = mapped_column(
        ForeignKey("zones.id", ondelete="CASCADE"), primary_key=True
    )


class Device(Base):
    """A loudspeaker cluster or smart IP receiver with its edge agent."""

    __tablename__ = "devices"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[DeviceKind] = mapped_column(
        EnumText(DeviceKind, 16), default=DeviceKind.cluster, server_default="cluster"
    )
    # a home receiver's household controls (household.controls): {"volume", "on", "ts"}
    household: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # its microphone: {"calibration": {...}, "last": {...}} (hearing.calibrated, playback.heard)
    hearing: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    token_hash: Mapped[str] = mapped_column(String(128))
    # the same token as the broker password, hashed as Mosquitto's password file wants it
    mqtt_password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)
    retired: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[DeviceStatus] = mapped_column(
        EnumText(DeviceStatus, 16), default=DeviceStatus.unknown
    )
    status_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    version: Mapped[str] = mapped_column(String(40), default="")
    capabilities: Mapped[list[str]] = mapped_column(JSON, default=list)
    last_health: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    last_health_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    volume: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    # the number of the SIM in its modem: SMS orders reach it there when data is gone
    phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    zones: Mapped[list[Zone]] = relationship(secondary="device_zones", lazy="selectin")


class Media(Base):
    """A normalised, encoded audio file, addressed by the SHA-256 of the encoded bytes."""

    __tablename__ = "media"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    original_filename: Mapped[str] = mapped_column(String(255), default="")
    original_format: Mapped[str] = mapped_column(String(40), default="")
    original_size: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    mime: Mapped[str] = mapped_column(String(40), default="audio/ogg")
    duration_ms: Mapped[int] = mapped_column(Integer)
    loudness_in_lufs: Mapped[float | None] = mapped_column(Float, nullable=True)
    true_peak_in_dbtp: Mapped[float | None] = mapped_column(Float, nullable=True)
    loudness_out_lufs: Mapped[float | None] = mapped_column(Float, nullable=True)
    true_peak_out_dbtp: Mapped[float | None] = mapped_column(Float, nullable=True)
    loudness_warning: Mapped[str | None] = mapped_column(String(60), nullable=True)
    # what it says: the language of its (first) version, and the text it was spoken from
    language: Mapped[str] = mapped_column(String(16), default="vi")
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    voice: Mapped[str | None] = mapped_column(String(80), nullable=True)
    parts: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    # its versions joined for villages that hear only some, or in another order: "1,0" → sha
    variants: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)


class Broadcast(Base):
    """One bulletin sent to a set of targets, starting at the same instant everywhere."""

    __tablename__ = "broadcasts"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)  # = play id
    title: Mapped[str] = mapped_column(String(200), default="")
    # the title as people search it on a phone, without accents (set with the title)
    title_folded: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # a stored bulletin, or (live, relay) a stream: {"kind", "url", "fallback_urls", "source"}
    media_sha256: Mapped[str | None] = mapped_column(ForeignKey("media.sha256"), nullable=True)
    stream: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    targets: Mapped[list[str]] = mapped_column(JSON)
    volume: Mapped[int | None] = mapped_column(Integer, nullable=True)
    start_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    send_at: Mapped[datetime] = mapped_column(UtcDateTime)
    schedule: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    not_after: Mapped[datetime] = mapped_column(UtcDateTime)
    state: Mapped[BroadcastState] = mapped_column(
        EnumText(BroadcastState, 24), default=BroadcastState.scheduled, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # Approval: held broadcasts have state pending_approval / pending_confirmation until a
    # second person releases them; "now" broadcasts then start when released.
    created_by: Mapped[str] = mapped_column(String(64), default="system")
    start_on_release: Mapped[bool] = mapped_column(Boolean, default=False)
    # sent inside a zone's quiet hours on purpose (asked for by its sender, audited)
    quiet_override: Mapped[bool] = mapped_column(Boolean, default=False)
    # a repeated broadcast: every repetition is a broadcast of its own in the first's series
    series_id: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)
    repeat_index: Mapped[int] = mapped_column(Integer, default=0)
    repeat_every_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    rejected_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # on the public page and feed: None is the station's default (emergencies always are);
    # ``public_slug`` names it there (never its id)
    public: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    public_slug: Mapped[str | None] = mapped_column(
        String(24),
        nullable=True,
        unique=True,
        index=True,
        default=lambda: secrets.token_urlsafe(12),
    )
    media: Mapped[Media | None] = relationship(lazy="joined")
    deliveries: Mapped[list[Delivery]] = relationship(
        back_populates="broadcast", lazy="selectin", order_by="Delivery.device_id"
    )

    @validates("title")
    def _fold_title(self, _key: str, title: str) -> str:
        self.title_folded = fold(title or "")[:200]
        return title


class Delivery(Base):
    """Where one broadcast stands on one device: sent, acked, media_ready, playing, played, ..."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("broadcast_id", "device_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    broadcast_id: Mapped[str] = mapped_column(
        String(80), ForeignKey("broadcasts.id", ondelete="CASCADE"), index=True
    )
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    # the language versions this device's villages hear, when not the broadcast's whole media
    media_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[DeliveryState] = mapped_column(
        EnumText(DeliveryState, 16), default=DeliveryState.pending
    )
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    acked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    media_ready_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    played_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # not ready at the start, the device joined this far into the audio (in step with the rest)
    joined_late_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    interrupted: Mapped[bool] = mapped_column(Boolean, default=False)
    line_check: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # the cluster's microphone on this play (playback.heard): verdict, level_db, delay_ms, ...
    hearing: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    broadcast: Mapped[Broadcast] = relationship(back_populates="deliveries")


class Command(Base):
    """Every signed command, as published or as waiting for the broker (``state``).

    The signed bytes are kept so a command the broker could not take is published later,
    unchanged and in sequence order (``controller.fleet.commands``)."""

    __tablename__ = "commands"
    cmd_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    type: Mapped[str] = mapped_column(String(20))
    target: Mapped[str] = mapped_column(String(80))
    seq_key: Mapped[str] = mapped_column(String(100), default="", index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    topic: Mapped[str] = mapped_column(String(200), default="")
    retain: Mapped[bool] = mapped_column(Boolean, default=False)
    data: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    state: Mapped[CommandState] = mapped_column(
        EnumText(CommandState, 12), default=CommandState.published, index=True
    )
    broadcast_id: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    not_after: Mapped[datetime] = mapped_column(UtcDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class CommandSequence(Base):
    """Last sequence number used per command target (agents refuse anything not above it)."""

    __tablename__ = "command_sequences"
    target: Mapped[str] = mapped_column(String(80), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class DeviceEvent(Base):
    """Everything agents reported (acks, playback, security); ``event_id`` makes ingest
    idempotent."""

    __tablename__ = "device_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(80), unique=True)
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    type: Mapped[str] = mapped_column(String(40), index=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)
    play_id: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class Schedule(Base):
    """A recurring or one-off programme (``controller.domain.schedules.ScheduleSpec`` as JSON)."""

    __tablename__ = "schedules"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)


class SiteSetting(Base):
    """Site-wide values that belong to the schedule set: time zone and quiet hours."""

    __tablename__ = "site_settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


class DevicePlan(Base):
    """The plan a device must hold (retained on its plan topic): republished when its content
    changes, and re-asserted, byte for byte, whenever the broker lost or replaced it."""

    __tablename__ = "device_plans"
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    cmd_id: Mapped[str] = mapped_column(String(40))
    data: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    data_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    entries: Mapped[int] = mapped_column(Integer, default=0)
    window_end: Mapped[datetime] = mapped_column(UtcDateTime)
    published_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)


class ScheduledPlay(Base):
    """A play a schedule put in devices' plans, as first planned: what a device's report of a
    play that was never fired centrally (a relay, the controller down at its time) is checked
    against (``controller/domain/report_checks.py``). Pruned with old telemetry."""

    __tablename__ = "scheduled_plays"
    play_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    start_at: Mapped[datetime] = mapped_column(UtcDateTime)
    latest_start: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_by: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: a stream
    targets: Mapped[list[str]] = mapped_column(JSON)
    planned_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)


class Alarm(Base):
    """A condition an agent raised (mains lost, dead speaker line, ...) or the controller saw
    (a cluster offline too long, a station service failing) until it clears.

    A technician acknowledges it; while it stays open, further raises only count up.
    """

    __tablename__ = "alarms"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # None: the station's own (a service the controller runs keeps dying)
    device_id: Mapped[str | None] = mapped_column(
        ForeignKey("devices.id"), index=True, nullable=True
    )
    key: Mapped[str] = mapped_column(String(40))
    code: Mapped[str] = mapped_column(String(32), index=True)
    channel: Mapped[int | None] = mapped_column(Integer, nullable=True)
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True, index=True)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    ack_note: Mapped[str | None] = mapped_column(Text, nullable=True)

    @staticmethod
    def is_open() -> Any:
        """SQL condition: still active, or cleared but not yet acknowledged (a technician's
        list)."""
        return Alarm.cleared_at.is_(None) | Alarm.acknowledged_at.is_(None)


class User(Base):
    """A person: local account, argon2 password hash, one or more roles."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # for a streaming source client (BUTT, Mixxx, ffmpeg) going live as this person
    source_password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)


class ApiToken(Base):
    """A user's token for the API and CLI; only its SHA-256 is kept."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    user: Mapped[User] = relationship(lazy="joined")


class AuditEntry(Base):
    """Who did what, when, from where. Append-only: triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime, default=_now, index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(200), default="")
    outcome: Mapped[str] = mapped_column(String(16), default="ok")
    ip: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ScheduleChange(Base):
    """A schedule edit waiting for an approver: put one schedule, delete one, or the whole set."""

    __tablename__ = "schedule_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # put | delete | replace
    name: Mapped[str] = mapped_column(String(64), default="")
    content: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[ScheduleChangeState] = mapped_column(
        EnumText(ScheduleChangeState, 16), default=ScheduleChangeState.pending, index=True
    )
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class WebSession(Base):
    """A browser login: the cookie holds a random id whose SHA-256 is the key here."""

    __tablename__ = "web_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user: Mapped[User] = relationship(lazy="joined")


class DeviceTelemetry(Base):
    """One health report, flattened for plots (the full last report stays on the device)."""

    __tablename__ = "device_telemetry"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(80), unique=True)
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    load_1m: Mapped[float | None] = mapped_column(Float, nullable=True)
    mem_available_mb: Mapped[int | None] = mapped_column(Integer, nullable=True)
    disk_free_mb: Mapped[int | None] = mapped_column(Integer, nullable=True)
    outbox_pending: Mapped[int | None] = mapped_column(Integer, nullable=True)
    battery_v: Mapped[float | None] = mapped_column(Float, nullable=True)
    temperature_c: Mapped[float | None] = mapped_column(Float, nullable=True)
    signal_dbm: Mapped[int | None] = mapped_column(Integer, nullable=True)


class DeviceStatusChange(Base):
    """A cluster went online, offline or stopped at this moment: its online ratio over a
    month (the equipment report) is read from these."""

    __tablename__ = "device_status_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[DeviceStatus] = mapped_column(EnumText(DeviceStatus, 16))
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class ControllerRun(Base):
    """A stretch of time a leading controller watched the fleet, from when it took the lead
    to the last beat it wrote; the gaps between runs are the station's own downtime, when no
    one heard the clusters (the report says so rather than counting them offline)."""

    __tablename__ = "controller_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    controller_id: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    alive_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class Notice(Base):
    """Something a person was told (or was to be told) on one channel: one row per condition
    and channel, so it is told once; failures are retried, a flood is suppressed."""

    __tablename__ = "notices"
    __table_args__ = (UniqueConstraint("key", "channel", name="uq_notices_key_channel"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(120))  # the condition: "alarm:12", "missed:b-3"
    rule: Mapped[str] = mapped_column(String(40), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[NoticeState] = mapped_column(EnumText(NoticeState, 12), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class FleetSample(Base):
    """How many devices were online at one moment, for the fleet's online-ratio plot."""

    __tablename__ = "fleet_samples"
    ts: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    online: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)


class MediaJob(Base):
    """Long work on media (an upload's processing, a text spoken): its stage and progress,
    for the page or the CLI that waits, and its result or its refusal."""

    __tablename__ = "media_jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # upload | speech
    state: Mapped[MediaJobState] = mapped_column(
        EnumText(MediaJobState, 12), default=MediaJobState.queued, index=True
    )
    stage: Mapped[str] = mapped_column(String(20), default="")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    title: Mapped[str] = mapped_column(String(200), default="")
    media_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    broadcast_id: Mapped[str | None] = mapped_column(String(80), nullable=True)  # sent after
    error_key: Mapped[str | None] = mapped_column(String(80), nullable=True)
    error_params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(64), default="system")
    controller_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The controller whose threads run it (several may share one database)."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)


class CapAlert(Base):
    """A CAP alert received from a feed, once per (sender, identifier), and what was done."""

    __tablename__ = "cap_alerts"
    __table_args__ = (
        UniqueConstraint("sender", "identifier", name="uq_cap_alerts_sender_identifier"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    feed: Mapped[str] = mapped_column(String(64))
    sender: Mapped[str] = mapped_column(String(255))
    identifier: Mapped[str] = mapped_column(String(255))
    sent: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16))
    msg_type: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))  # emergency, advisory, ignored, logged, …
    broadcast_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)


class AgentRelease(Base):
    """An agent release (a wheel) the controller serves to devices for signed updates."""

    __tablename__ = "agent_releases"
    version: Mapped[str] = mapped_column(String(40), primary_key=True)
    filename: Mapped[str] = mapped_column(String(200), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    notes: Mapped[str] = mapped_column(String(500), default="")
    uploaded_by: Mapped[str] = mapped_column(String(80))
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)


class Rollout(Base):
    """A release sent to devices in waves (1 device, 10 %, the rest); stops on a failure."""

    __tablename__ = "rollouts"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[str] = mapped_column(ForeignKey("agent_releases.version"), index=True)
    state: Mapped[RolloutState] = mapped_column(EnumText(RolloutState, 12), index=True)
    wave: Mapped[int] = mapped_column(Integer, default=0)  # the wave under way (0-based)
    waves: Mapped[int] = mapped_column(Integer)
    wave_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)  # when it began
    zone_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    confirm_s: Mapped[int] = mapped_column(Integer)
    wave_timeout_s: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(300), default="")
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class RolloutTarget(Base):
    """One device of a rollout: its wave and how its update went."""

    __tablename__ = "rollout_targets"
    rollout_id: Mapped[str] = mapped_column(ForeignKey("rollouts.id"), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    wave: Mapped[int] = mapped_column(Integer)
    state: Mapped[TargetState] = mapped_column(EnumText(TargetState, 12))
    from_version: Mapped[str] = mapped_column(String(40), default="")
    cmd_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    reason: Mapped[str] = mapped_column(String(40), default="")
    detail: Mapped[str] = mapped_column(String(300), default="")


class ListenerSession(Base):
    """One connection to a station stream, from Icecast's listener_add to its
    listener_remove: a stream-only receiver's proof that it was tuned in (connected from …
    to …), and the count of the channel's public listeners."""

    __tablename__ = "listener_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    mount: Mapped[str] = mapped_column(String(120))
    client: Mapped[str] = mapped_column(String(40), index=True)  # Icecast's client number
    device_id: Mapped[str | None] = mapped_column(
        ForeignKey("devices.id"), nullable=True, index=True
    )
    connected_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    disconnected_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
