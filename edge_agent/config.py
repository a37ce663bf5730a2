"""The agent's config file (TOML, usually /etc/loalang/agent.toml), validated at start.

Typed with msgspec, like the wire contract: strict (no coercion, unknown keys refused) and
light enough for a Pi.
"""

from __future__ import annotations

import ssl
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import msgspec.structs
from msgspec import Meta

from protocol.envelope import key_id, load_public_key
from protocol.keys import PublicKey
from protocol.messages import Ident


class ConfigError(ValueError):
    """The config file is missing, unreadable or invalid; the message says where."""


class _Section(msgspec.Struct, forbid_unknown_fields=True):
    def replace(self, **changes: Any) -> Any:
        """A copy with some settings changed (tests, the installer)."""
        return msgspec.structs.replace(self, **changes)


Port = Annotated[int, Meta(ge=1, le=65535)]


class MqttConfig(_Section):
    host: str = "127.0.0.1"
    port: Port = 1883
    username: str | None = None
    password: str | None = None
    keepalive_s: Annotated[int, Meta(ge=5, le=600)] = 30
    reconnect_min_s: Annotated[float, Meta(gt=0, le=60)] = 1.0  # jittered backoff bounds
    reconnect_max_s: Annotated[float, Meta(gt=0, le=3600)] = 30.0
    # after an outage the outbox waits a random 0..flush_jitter_s before it flows (a whole
    # fleet coming back must not flood the controller in the same second)
    flush_jitter_s: Annotated[float, Meta(ge=0, le=600)] = 10.0
    # reports the broker took but the controller has not confirmed go again after this
    receipt_timeout_s: Annotated[float, Meta(gt=0, le=600)] = 20.0
    # MQTT over TLS: the broker's certificate is checked against the station's CA
    # (``ca_pem``, else the system's) and ``host``; there is no switch to skip the check
    tls: bool = False


class OutputConfig(_Section):
    backend: Literal["alsa", "file"] = "alsa"
    device: str = "default"
    dir: str | None = None  # file backend: where WAVs are written


class HardwareConfig(_Section):
    """The cluster's control board: ``mcu`` (docs/firmware-protocol.md), ``usb_relay`` (LCUS
    board switching amplifier power) or ``none``."""

    backend: Literal["none", "mcu", "usb_relay"] = "none"
    port: str = "/dev/ttyUSB0"
    baudrate: Annotated[int, Meta(ge=1200)] = 115200
    relays: Annotated[int, Meta(ge=1, le=8)] = 1
    lead_s: Annotated[float, Meta(ge=0, le=30)] = 2.0  # amplifiers on this long before a play
    hold_s: Annotated[float, Meta(ge=0, le=600)] = 5.0  # and off this long after the last
    # amplifier channels switch on one by one this far apart (off in reverse): four 100 W
    # amplifiers' inrush at once trips a weak cabinet's breaker; lead_s must cover the sequence
    channel_gap_s: Annotated[float, Meta(ge=0, le=5)] = 0.5
    poll_s: Annotated[float, Meta(ge=1, le=3600)] = 30.0
    line_min_ma: Annotated[int, Meta(ge=0)] = 20
    battery_low_v: float = 11.5
    over_temperature_c: float = 65.0
    # a relay whose streams are all unreachable falls back to this station on the board's FM
    # tuner (MHz, e.g. 100.0 for VOV1 where it is received); none: no FM fallback
    fm_fallback_mhz: Annotated[float, Meta(ge=64.0, le=108.0)] | None = None


class ModemConfig(_Section):
    """The cellular modem's AT port, read for SMS orders (edge_agent/modem.py); none: no
    modem. On a SIM7600 or EC25 the AT port is usually the third USB serial port."""

    port: str | None = None
    baudrate: Annotated[int, Meta(ge=1200)] = 115200
    poll_s: Annotated[float, Meta(ge=1, le=3600)] = 60.0


class MicrophoneConfig(_Section):
    """The cluster's microphone, which hears the station's own plays (edge_agent/hearing):
    ``alsa`` (a USB or I2S microphone; ``device`` e.g. ``plughw:1,0``), ``fifo`` (a
    simulator's named pipe at ``path``: the demo, the tests) or ``none``."""

    backend: Literal["none", "alsa", "fifo"] = "none"
    device: str = "default"
    path: str | None = None
    # the calibration chime's volume (percent): low, it is heard in the village
    calibration_volume: Annotated[int, Meta(ge=1, le=100)] = 30
    # a chime not heard at enrolment (noise, a busy pole) is tried again this much later,
    # three times in all
    calibration_retry_s: Annotated[float, Meta(ge=1, le=86400)] = 300.0


class ReceiverConfig(_Section):
    """A home receiver (``kind = "receiver"``): its indoor scale and its local control."""

    # the loopback port its buttons call (edge_agent/local_control.py); 0: any free port
    control_port: Annotated[int, Meta(ge=0, le=65535)] = 8765
    # its full scale as a share of a horn's (percent): indoors, a knob at 100 is this loud
    indoor_max: Annotated[int, Meta(ge=1, le=100)] = 40
    volume: Annotated[int, Meta(ge=0, le=100)] = 50  # the knob's first position


class AgentConfig(_Section):
    device_id: Ident
    controller_url: Annotated[str, Meta(pattern=r"^https?://")]
    token: Annotated[str, Meta(min_length=8)]
    data_dir: str
    keys: Annotated[dict[str, str], Meta(min_length=1)]  # pinned controller keys: kid = key
    # the station's own CA (PEM), trusted for MQTT over TLS and HTTPS to the controller;
    # none: the system's CAs (an operator's certificate from a public CA)
    ca_pem: (
        Annotated[str, Meta(max_length=20_000, pattern="-----BEGIN CERTIFICATE-----")] | None
    ) = None
    zones: list[Ident] = msgspec.field(default_factory=list)
    mqtt: MqttConfig = msgspec.field(default_factory=MqttConfig)
    output: OutputConfig = msgspec.field(default_factory=OutputConfig)
    health_interval_s: Annotated[float, Meta(ge=1)] = 60.0
    ffmpeg: str = "ffmpeg"
    # media up to this long is kept decoded in the cache so it starts instantly
    pcm_cache_max_s: Annotated[float, Meta(ge=0)] = 120.0
    # media cache size cap (LRU; media of the current plan is never evicted)
    cache_max_mb: Annotated[float, Meta(gt=0)] = 2048.0
    # a live voice's jitter buffer: what a 4G link's hiccups may hold back before the oldest
    # audio is dropped (the delay from the microphone stays below it plus the pipeline's)
    live_buffer_ms: Annotated[int, Meta(ge=200, le=10_000)] = 1000
    hardware: HardwareConfig = msgspec.field(default_factory=HardwareConfig)
    modem: ModemConfig = msgspec.field(default_factory=ModemConfig)
    microphone: MicrophoneConfig = msgspec.field(default_factory=MicrophoneConfig)
    # a loudspeaker cluster on a pole, or a receiver in a home (its household's controls)
    kind: Literal["cluster", "receiver"] = "cluster"
    receiver: ReceiverConfig = msgspec.field(default_factory=ReceiverConfig)
    # free storage under this raises a disk_low alarm (a full disk refuses commands)
    disk_low_mb: Annotated[float, Meta(ge=0)] = 100.0
    # the clock's offset is read from chrony or timesyncd, else asked of this SNTP server
    ntp_server: Annotated[str, Meta(max_length=200)] | None = None
    ntp_port: Annotated[int, Meta(ge=1, le=65535)] = 123
    ntp_check_s: Annotated[float, Meta(ge=10)] = 600.0
    # agent releases, one virtualenv each, and the ``current`` link the service starts
    # (edge_agent/update.py); none: ``{data_dir}/releases``
    releases_dir: str | None = None

    def __post_init__(self) -> None:
        for kid, text in self.keys.items():
            try:
                key = load_public_key(text)
            except ValueError as exc:
                raise ValueError(f"keys: key {kid!r}: {exc}") from None
            if key_id(key) != kid:
                raise ValueError(f"keys: key {kid!r} does not match its key id ({key_id(key)})")

    def tls_context(self) -> ssl.SSLContext:
        """Certificates checked, hostnames too, against the station's CA (or the system's)."""
        return (
            ssl.create_default_context(cadata=self.ca_pem)
            if self.ca_pem
            else ssl.create_default_context()
        )

    def public_keys(self) -> dict[str, PublicKey]:
        return {kid: load_public_key(text) for kid, text in self.keys.items()}

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def releases_path(self) -> Path:
        return Path(self.releases_dir) if self.releases_dir else self.data_path / "releases"

    @property
    def output_dir(self) -> Path:
        return Path(self.output.dir) if self.output.dir else self.data_path / "output"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgentConfig:
        """Validate a parsed config (an integer may stand for a float; nothing else is
        coerced); raises ``ConfigError`` saying which key is wrong."""
        try:
            return msgspec.convert(data, cls)
        except msgspec.ValidationError as exc:
            raise ConfigError(str(exc)) from None

    @classmethod
    def load(cls, path: Path, **overrides: object) -> AgentConfig:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
        data.update(overrides)
        try:
            return cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
