"""Read models the services return: the JSON API sends them as they are, pages render them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..auth import Role


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
    true_peak_out_dbtp: float | None = None
    loudness_warning: str | None = Field(
        None,
        description="set when the stored file is more than the tolerance off the loudness target",
    )
    language: str = "vi"
    text: str | None = Field(None, description="what it was spoken from (text to speech)")
    voice: str | None = None
    parts: list[dict[str, Any]] | None = None
    created_at: datetime
    url: str = ""


class ZoneOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    device_count: int = 0
    geocodes: list[str] = Field(default_factory=list)
    languages: list[str] = Field(
        default_factory=lambda: ["vi"], description="what its people hear, in order"
    )


class DeviceOut(BaseModel):
    id: str
    name: str
    kind: str = Field(
        "cluster", description="cluster (loudspeakers), receiver (in a home), stream_only"
    )
    household: dict[str, Any] | None = Field(
        None, description="a home receiver's own controls: volume (percent), on, ts"
    )
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
    phone: str | None = Field(None, description="the number of the SIM in its modem (SMS orders)")
    hearing: dict[str, Any] | None = Field(
        None,
        description="its microphone: the calibration (ok, gain_db, ts) and the latest "
        "play's verdict (last)",
    )
    active_alarms: int = 0
    created_at: datetime | None = None
    commands_pending: list[str] = Field(
        default_factory=list,
        description="kinds of commands to this device still waiting for the broker",
    )


class DeviceRegistered(BaseModel):
    device: DeviceOut
    token: str = Field(description="shown once; only its hash is stored")
    config_toml: str = Field(description="the agent's config file, ready to copy to the device")


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
    joined_late_ms: int | None = Field(
        None,
        description="not ready at the start: joined this "
        "far into the audio, in step with the others",
    )
    line_check: dict[str, Any] | None = None
    hearing: dict[str, Any] | None = Field(
        None,
        description="what the cluster's microphone heard: verdict (heard, quiet, wrong, "
        "not_heard, uncertain, cannot_check), level_db against its calibration, delay_ms",
    )
    interrupted: bool
    media_sha256: str | None = Field(
        None, description="the language versions its villages hear, when not the whole bulletin"
    )
    start_offset_ms: int | None = Field(None, description="actual start minus scheduled start")
    device_status: str | None = None


class StreamOut(BaseModel):
    kind: str = Field(description="live (the station's voice) or relay")
    urls: list[str] = Field(description="the stream, then its fallbacks")
    source: str | None = Field(None, description="live: browser, line_in or client")
    mount: str | None = Field(None, description="on the station's stream server")
    station_url: str | None = Field(
        None, description="relay: the station's copy every loudspeaker plays in step"
    )
    delay_ms: int | None = Field(
        None, description="loudspeakers play the stream this long after the station had it"
    )


class BroadcastOut(BaseModel):
    id: str
    title: str
    media_sha256: str | None = Field(description="the stored bulletin (none for a stream)")
    stream: StreamOut | None = None
    ended_at: datetime | None = Field(None, description="a live broadcast's end")
    duration_ms: int
    priority: str
    targets: list[str]
    state: str
    settled: bool = Field(
        False, description="every device's delivery has ended (played, failed, missed …)"
    )
    start_at: datetime
    start_on_release: bool = Field(
        False,
        description="held: plays as soon as it is approved "
        "(start_at is only a placeholder until then)",
    )
    send_at: datetime
    not_after: datetime
    created_at: datetime
    sent_at: datetime | None
    summary: dict[str, int] = Field(description="loudspeakers per delivery state")
    outcomes: dict[str, int] = Field(
        default_factory=dict,
        description="loudspeakers per outcome, the words every page uses: played, fault (played "
        "with a dead speaker line), interrupted, missed, failed, cancelled, waiting",
    )
    start_skew_ms: int | None = Field(None, description="latest minus earliest actual start")
    created_by: str = "system"
    approved_by: str | None = None
    approved_at: datetime | None = None
    rejected_reason: str | None = None
    schedule: str | None = None
    quiet_override: bool = Field(False, description="sent inside quiet hours on purpose")
    series_id: str | None = Field(None, description="a repetition's series: its first's id")
    repeat_index: int = Field(0, description="0 for the first play, 1 for the first repeat, …")
    commands_pending: list[str] = Field(
        default_factory=list,
        description="targets whose command (play or cancel) still waits for the broker",
    )
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
    device_id: str | None = Field(description="None: the station's own service")
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


class StopOut(BaseModel):
    cmd_ids: list[str]
    devices: list[str]
    pending: list[str] = Field(
        default_factory=list,
        description="targets whose STOP waits for "
        "the broker: sent as soon as it is back, while still valid",
    )


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    ts: datetime
    actor: str
    action: str
    target: str
    outcome: str
    ip: str
    detail: dict[str, Any]


class UserOut(BaseModel):
    username: str
    display_name: str
    roles: list[Role]
    active: bool
    created_at: datetime
    last_login_at: datetime | None


class TokenOut(BaseModel):
    id: int
    name: str
    token: str | None = Field(None, description="shown once, at creation")
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


class JobOut(BaseModel):
    """Long media work: where it stands, and its bulletin once done."""

    id: str
    kind: str = Field(description="upload | speech")
    state: str = Field(description="queued | running | done | failed")
    stage: str = Field(description="measuring, speaking, encoding, checking, ...")
    progress: float = Field(description="0 to 1")
    title: str = ""
    created_by: str = ""
    created_at: datetime
    updated_at: datetime
    media: MediaOut | None = None
    broadcast_id: str | None = Field(None, description="the broadcast made of it, if any")
    error: dict[str, Any] | None = Field(None, description="{code, messages: {vi, en}}")


class VoiceOut(BaseModel):
    id: str
    language: str
    name_vi: str
    name_en: str
    default: bool = False


class InstalledVoiceOut(BaseModel):
    """A Piper voice the station installed."""

    id: str = Field(description="piper:NAME, what a text's ``voice`` names")
    name: str
    language: str
    locale: str
    quality: str = Field(description="x_low, low, medium or high")
    sample_rate: int
    dataset: str
    rtf: float = Field(description="seconds of work per second of speech on this controller")
    size_bytes: int
    installed_at: str


class LanguageOut(BaseModel):
    code: str
    name_vi: str
    name_en: str
    tts: bool = Field(description="a synthetic voice speaks it; else versions are recorded")
