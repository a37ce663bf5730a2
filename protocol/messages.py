"""Pydantic models of every message body that crosses MQTT.

Commands (controller → agent) travel inside a signed envelope (see ``envelope.py``);
reports (agent → controller) are plain JSON, each with an ``event_id`` so the controller can
deduplicate what an agent's outbox sends twice.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from .topics import ID_PATTERN


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("datetime must carry an explicit UTC offset")
    return value.astimezone(timezone.utc)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
"""A datetime that must be timezone-aware on input and is held in UTC."""

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Ident = Annotated[str, Field(pattern=f"^{ID_PATTERN}$")]
Target = Annotated[str, Field(pattern=f"^(all|device:{ID_PATTERN}|zone:{ID_PATTERN})$")]


def utcnow() -> datetime:
    """Current time as an aware UTC datetime."""
    return datetime.now(timezone.utc)


class Priority(str, enum.Enum):
    """Priority levels, lowest first (Circular 39/2020 plus live and background)."""

    background = "background"
    normal = "normal"
    priority = "priority"
    live = "live"
    emergency = "emergency"

    @property
    def rank(self) -> int:
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {p: i for i, p in enumerate(Priority)}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- commands (the signed body) -------------------------------------------------------------


class MediaRef(_Model):
    """An immutable audio file the agent fetches over HTTP and checks against ``sha256``."""

    sha256: Sha256
    url: str = Field(description="Absolute URL or path relative to the controller's base URL")
    size: int = Field(ge=1)
    duration_ms: int = Field(ge=1)
    mime: str = "audio/ogg"


StreamUrl = Annotated[str, Field(min_length=1, max_length=500, pattern=r"^https?://")]


class StreamRef(_Model):
    """A live stream (relay or live studio) played for ``duration_s``; ``fallback_urls`` are
    tried in order when ``url`` cannot be reached or drops and does not come back."""

    url: StreamUrl
    duration_s: int = Field(ge=1, le=6 * 3600)
    fallback_urls: list[StreamUrl] = Field(default_factory=list, max_length=5)

    @property
    def urls(self) -> list[str]:
        return [self.url, *self.fallback_urls]


class _Audio(_Model):
    """What is played: a stored file (``media``) or a live relay (``stream``), exactly one."""

    media: MediaRef | None = None
    stream: StreamRef | None = None

    @model_validator(mode="after")
    def _media_or_stream(self) -> _Audio:
        if (self.media is None) == (self.stream is None):
            raise ValueError(f"{type(self).__name__} carries exactly one of media or stream")
        return self


class PlayCommand(_Audio):
    """Play ``media`` (or relay ``stream``) at ``start_at`` (the same instant on every target)."""

    type: Literal["play"] = "play"
    play_id: str = Field(min_length=1, max_length=80)
    broadcast_id: str = Field(min_length=1, max_length=80)
    title: str = Field(default="", max_length=200)
    start_at: UtcDatetime
    priority: Priority = Priority.normal
    volume: int | None = Field(default=None, ge=0, le=100)


class CancelCommand(_Model):
    """Drop a play that has not started yet; stop it if it is playing."""

    type: Literal["cancel"] = "cancel"
    play_id: str = Field(min_length=1, max_length=80)


class SetVolumeCommand(_Model):
    """The device's own volume (percent), kept across restarts; a play's volume scales it."""

    type: Literal["set_volume"] = "set_volume"
    level: int = Field(ge=0, le=100)


class StopCommand(_Model):
    """Silence the target at once, whatever is playing."""

    type: Literal["stop"] = "stop"
    reason: str = Field(default="", max_length=200)


class SetZonesCommand(_Model):
    """Tell one device which zones it belongs to (it resubscribes to their command topics)."""

    type: Literal["set_zones"] = "set_zones"
    zones: list[Ident] = Field(max_length=64)


class PlanEntry(_Audio):
    """One play in a device's plan: exactly one of ``media`` or ``stream``."""

    play_id: str = Field(min_length=1, max_length=80)
    title: str = Field(default="", max_length=200)
    start_at: UtcDatetime
    priority: Priority = Priority.normal
    volume: int | None = Field(default=None, ge=0, le=100)


class PlanCommand(_Model):
    """What a device plays over the next hours; retained on ``device/{id}/plan``.

    The agent keeps it on disk and plays from it on its own clock when the link is down.
    """

    type: Literal["plan"] = "plan"
    version: str = Field(min_length=1, max_length=64)
    window_start: UtcDatetime
    window_end: UtcDatetime
    max_late_s: int = Field(120, ge=0, le=3600)
    entries: list[PlanEntry] = Field(default_factory=list, max_length=2000)


CommandBody = Annotated[
    PlayCommand | CancelCommand | StopCommand | SetZonesCommand | SetVolumeCommand | PlanCommand,
    Field(discriminator="type"),
]
COMMAND_BODY: TypeAdapter[Any] = TypeAdapter(CommandBody)


class CommandPayload(_Model):
    """The signed part of an envelope: who signed, for whom, when it is valid, in what order."""

    v: Literal[1] = 1
    kid: str = Field(min_length=1, max_length=64)
    cmd_id: str = Field(min_length=1, max_length=80)
    target: Target
    issued_at: UtcDatetime
    not_after: UtcDatetime
    seq: int = Field(ge=1)
    body: CommandBody


class SignedEnvelope(_Model):
    """What travels on a command topic: the payload and an Ed25519 signature over its canonical JSON."""

    payload: dict[str, Any]
    sig: str = Field(min_length=1, max_length=200)


# --- reports (agent → controller) -----------------------------------------------------------


class DeviceState(str, enum.Enum):
    online = "online"
    offline = "offline"
    stopped = "stopped"


class StatusMessage(_Model):
    """Retained on ``device/{id}/status``; the last-will publishes ``state=offline``."""

    device_id: Ident
    state: DeviceState
    ts: UtcDatetime | None = None
    version: str = ""
    capabilities: list[str] = Field(default_factory=list)
    zones: list[Ident] = Field(default_factory=list)


class AckMessage(_Model):
    """Sent once per command the agent received: accepted, or rejected with a reason."""

    event_id: str
    device_id: Ident
    cmd_id: str
    ts: UtcDatetime
    accepted: bool
    play_id: str | None = None
    reason: str | None = None


class HardwareReadings(_Model):
    """What the cluster's control board says (MCU) or what the agent switched (relay board)."""

    backend: str = Field(max_length=20)
    connected: bool
    firmware: str | None = Field(None, max_length=200)
    mcu_uptime_s: int | None = None
    mains: bool | None = None
    battery_v: float | None = None
    temperature_c: float | None = None
    door_open: bool | None = None
    amplifiers: list[bool] = Field(default_factory=list, max_length=16)
    input: str | None = Field(None, max_length=10)
    volume: int | None = None
    line_ma: list[int] = Field(default_factory=list, max_length=16)


class NetworkReadings(_Model):
    """The uplink: which interface carries the default route, and its signal where known."""

    interface: str | None = Field(None, max_length=32)
    type: Literal["ethernet", "wifi", "cellular", "unknown"] = "unknown"
    signal_dbm: int | None = None
    signal_percent: int | None = Field(None, ge=0, le=100)


class LineCheck(_Model):
    """Proof of play from the hardware: current in each speaker line while the audio played."""

    line_ma: list[int] = Field(max_length=16)
    dead_channels: list[int] = Field(default_factory=list, max_length=16)

    @property
    def ok(self) -> bool:
        return not self.dead_channels


class HealthReport(_Model):
    """Periodic health telemetry."""

    event_id: str
    device_id: Ident
    ts: UtcDatetime
    version: str
    uptime_s: int = Field(ge=0)
    load_1m: float | None = None
    mem_total_mb: int | None = None
    mem_available_mb: int | None = None
    disk_free_mb: int | None = None
    cache_mb: float = 0.0
    cache_files: int = 0
    clock_synchronized: bool | None = None
    outbox_pending: int = 0
    duplicates_ignored: int = Field(0, description="QoS 1 redeliveries of the last command")
    volume: int | None = Field(None, ge=0, le=100)
    hardware: HardwareReadings | None = None
    last_line_check: LineCheck | None = Field(None, description="speaker lines in the last play")
    network: NetworkReadings | None = None


class _Event(_Model):
    event_id: str = Field(min_length=1, max_length=80)
    device_id: Ident
    ts: UtcDatetime


class MediaReadyEvent(_Event):
    type: Literal["media.ready"] = "media.ready"
    play_id: str
    sha256: Sha256
    fetched_bytes: int = 0


class PlaybackStartedEvent(_Event):
    type: Literal["playback.started"] = "playback.started"
    play_id: str
    broadcast_id: str
    scheduled_start: UtcDatetime
    actual_start: UtcDatetime


class PlaybackFinishedEvent(_Event):
    type: Literal["playback.finished"] = "playback.finished"
    play_id: str
    broadcast_id: str
    scheduled_start: UtcDatetime
    actual_start: UtcDatetime
    actual_end: UtcDatetime
    interrupted: bool = False
    interrupted_by: str | None = None
    played_ms: int = Field(ge=0)
    line_check: LineCheck | None = None
    stream_urls: list[str] | None = Field(None, max_length=20, description="streams that played")
    silence_ms: int | None = Field(None, ge=0, description="stream gaps filled with silence")


class PlaybackFailedEvent(_Event):
    """The play will not happen (or stopped abnormally); ``reason`` is a stable code."""

    type: Literal["playback.failed"] = "playback.failed"
    play_id: str
    broadcast_id: str
    reason: str
    detail: str = ""


class SecurityEvent(_Event):
    """Something was refused: bad signature, unknown key, expired, replayed, wrong target, bad media."""

    type: Literal["security"] = "security"
    reason: str
    detail: str = ""
    topic: str = ""
    cmd_id: str | None = None
    play_id: str | None = None


class AlarmCode(str, enum.Enum):
    """Conditions a technician must see (and acknowledge) on the controller."""

    mains_lost = "mains_lost"
    battery_low = "battery_low"
    door_open = "door_open"
    over_temperature = "over_temperature"
    speaker_line = "speaker_line"
    mcu_unreachable = "mcu_unreachable"


class AlarmEvent(_Event):
    """A condition began (``active``) or ended. ``channel`` tells speaker lines apart."""

    type: Literal["alarm"] = "alarm"
    code: AlarmCode
    active: bool
    channel: int | None = Field(None, ge=0, le=15)
    value: float | None = None
    detail: str = Field("", max_length=300)

    @property
    def key(self) -> str:
        return self.code.value if self.channel is None else f"{self.code.value}:{self.channel}"


AgentEvent = Annotated[
    MediaReadyEvent | PlaybackStartedEvent | PlaybackFinishedEvent | PlaybackFailedEvent | SecurityEvent | AlarmEvent,
    Field(discriminator="type"),
]
AGENT_EVENT: TypeAdapter[Any] = TypeAdapter(AgentEvent)
