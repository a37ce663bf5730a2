"""The health report an agent sends every ``health_interval_s``, and the readings in it
(its board, network, modem, speaker lines, counters)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from .base import Ident, Message, Percent, PlayId, Text200, UtcDatetime


class HardwareReadings(Message):
    """What the cluster's control board says (MCU) or what the agent switched (relay board)."""

    backend: Annotated[str, Meta(max_length=20)]
    connected: bool
    firmware: Text200 | None = None
    mcu_uptime_s: int | None = None
    mains: bool | None = None
    battery_v: float | None = None
    temperature_c: float | None = None
    door_open: bool | None = None
    amplifiers: Annotated[list[bool], Meta(max_length=16)] = msgspec.field(default_factory=list)
    input: Annotated[str, Meta(max_length=10)] | None = None
    volume: int | None = None
    line_ma: Annotated[list[int], Meta(max_length=16)] = msgspec.field(default_factory=list)


class NetworkReadings(Message):
    """The uplink: which interface carries the default route, and its signal where known."""

    interface: Annotated[str, Meta(max_length=32)] | None = None
    type: Literal["ethernet", "wifi", "cellular", "unknown"] = "unknown"
    signal_dbm: int | None = None
    signal_percent: Percent | None = None


class ModemReadings(Message):
    """The modem that receives SMS orders, as its AT port tells it."""

    connected: bool
    sim: Annotated[str, Meta(max_length=20)] | None = None  # +CPIN: READY, SIM PIN, ...
    registered: bool | None = None
    signal_dbm: int | None = None
    operator: Annotated[str, Meta(max_length=40)] | None = None


class LineCheck(Message):
    """Proof of play from the hardware: current in each speaker line while the audio played."""

    line_ma: Annotated[list[int], Meta(max_length=16)]
    dead_channels: Annotated[list[int], Meta(max_length=16)] = msgspec.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.dead_channels


class AgentCounters(Message):
    """What the agent counted since it started (a monitoring system plots their rates)."""

    commands_accepted: int = 0
    commands_refused: int = 0
    plays_started: int = 0
    plays_finished: int = 0
    link_losses: int = 0  # MQTT sessions lost
    reports_resent: int = 0  # sent again for want of the controller's receipt


class HealthReport(Message):
    """Periodic health telemetry."""

    event_id: PlayId
    device_id: Ident
    ts: UtcDatetime
    version: Annotated[str, Meta(max_length=40)]
    uptime_s: Annotated[int, Meta(ge=0)]
    load_1m: float | None = None
    mem_total_mb: int | None = None
    mem_available_mb: int | None = None
    disk_free_mb: int | None = None
    cache_mb: float = 0.0
    cache_files: int = 0
    clock_synchronized: bool | None = None
    # true time minus this device's clock (NTP's θ), and where it was read (chrony, timesyncd,
    # sntp); None where nothing answers
    clock_offset_ms: float | None = None
    clock_source: Annotated[str, Meta(max_length=20)] | None = None
    outbox_pending: int = 0
    duplicates_ignored: int = 0  # QoS 1 redeliveries of the last command
    volume: Percent | None = None
    hardware: HardwareReadings | None = None
    last_line_check: LineCheck | None = None  # speaker lines in the last play
    network: NetworkReadings | None = None
    counters: AgentCounters | None = None
    pinned_version: int | None = None  # the pinned set held whole on disk (PinCommand)
    modem: ModemReadings | None = None
