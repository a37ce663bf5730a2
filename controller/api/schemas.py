"""Pydantic models of the HTTP API: what clients send and what they get back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from protocol.messages import Ident, Priority, Sha256, Target, UtcDatetime


class MediaOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    sha256: str
    title: str
    original_filename: str
    original_format: str
    original_size: int
    size: int
    mime: str
    duration_ms: int
    loudness_in_lufs: float | None
    true_peak_in_dbtp: float | None
    loudness_out_lufs: float | None
    created_at: datetime
    url: str = ""


class ZoneIn(BaseModel):
    id: Ident
    name: str = Field(min_length=1, max_length=200)


class ZoneRenameIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)


class ZoneOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    device_count: int = 0


class DeviceIn(BaseModel):
    id: Ident
    name: str = Field(min_length=1, max_length=200)
    zones: list[Ident] = Field(default_factory=list, max_length=64)
    output: str = Field("alsa", pattern="^(alsa|file)$",
                        description="audio output of the agent: alsa on a Pi, file for tests")
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)


class LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class DeviceZonesIn(BaseModel):
    zones: list[Ident] = Field(max_length=64)


class DeviceOut(BaseModel):
    id: str
    name: str
    zones: list[str]
    status: str
    status_at: datetime | None
    last_seen_at: datetime | None
    version: str
    capabilities: list[str]
    last_health: dict[str, Any] | None
    last_health_at: datetime | None
    retired: bool
    volume: int | None = None
    latitude: float | None = None
    longitude: float | None = None
    active_alarms: int = 0


class DeviceRegistered(BaseModel):
    device: DeviceOut
    token: str = Field(description="shown once; only its hash is stored")
    config_toml: str = Field(description="the agent's config file, ready to copy to the device")


class BroadcastIn(BaseModel):
    media_sha256: Sha256
    targets: list[Target] = Field(min_length=1, max_length=500)
    start_at: UtcDatetime | None = Field(None, description="absent: now (after a short sync lead)")
    priority: Priority = Priority.normal
    title: str = Field("", max_length=200)
    max_late_s: int | None = Field(None, ge=0, le=24 * 3600,
                                   description="how late an agent may still start it")
    volume: int | None = Field(None, ge=0, le=100)
    draft: bool = Field(False, description="keep it as a draft: nothing is sent or waits for "
                        "approval until its author submits it")


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    device_id: str
    state: str
    reason: str | None
    updated_at: datetime
    sent_at: datetime | None
    acked_at: datetime | None
    media_ready_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    played_ms: int | None
    line_check: dict[str, Any] | None = None
    interrupted: bool
    start_offset_ms: int | None = Field(None, description="actual start minus scheduled start")
    device_status: str | None = None


class BroadcastOut(BaseModel):
    id: str
    title: str
    media_sha256: str
    duration_ms: int
    priority: str
    targets: list[str]
    state: str
    start_at: datetime
    send_at: datetime
    not_after: datetime
    created_at: datetime
    sent_at: datetime | None
    summary: dict[str, int]
    start_skew_ms: int | None = Field(None, description="latest minus earliest actual start")
    created_by: str = "system"
    approved_by: str | None = None
    approved_at: datetime | None = None
    rejected_reason: str | None = None
    deliveries: list[DeliveryOut]


class DeviceEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    event_id: str
    device_id: str
    type: str
    ts: datetime
    received_at: datetime
    play_id: str | None
    payload: dict[str, Any]


class AlarmOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    device_id: str
    key: str
    code: str
    channel: int | None
    raised_at: datetime
    cleared_at: datetime | None
    value: float | None
    detail: str
    occurrences: int
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_note: str | None

    @property
    def active(self) -> bool:
        return self.cleared_at is None


class AlarmAckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field("", max_length=80, description="who acknowledges; a person's own login is "
                    "used instead, this only names the technician behind the bootstrap token")
    note: str = Field(default="", max_length=1000)


class StopIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    targets: list[Target] = Field(min_length=1, max_length=500)
    reason: str = Field(default="", max_length=200)


class StopOut(BaseModel):
    cmd_ids: list[str]
    devices: list[str]


class VolumeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: int = Field(ge=0, le=100)


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000, description="shown to the broadcaster")
