"""The agent's config file (TOML, usually /etc/loalang/agent.toml), validated at start."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from protocol.envelope import key_id, load_public_key
from protocol.messages import Ident


class ConfigError(ValueError):
    """The config file is missing, unreadable or invalid; the message says where."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MqttConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    keepalive_s: int = Field(30, ge=5, le=600)
    reconnect_min_s: float = Field(1.0, gt=0, le=60, description="jittered backoff bounds")
    reconnect_max_s: float = Field(30.0, gt=0, le=3600)


class OutputConfig(_Section):
    backend: Literal["alsa", "file"] = "alsa"
    device: str = "default"
    dir: Path | None = Field(None, description="file backend: where WAVs are written")


class HardwareConfig(_Section):
    """The cluster's control board: ``mcu`` (docs/firmware-protocol.md), ``usb_relay`` (LCUS
    board switching amplifier power) or ``none``."""

    backend: Literal["none", "mcu", "usb_relay"] = "none"
    port: str = "/dev/ttyUSB0"
    baudrate: int = Field(115200, ge=1200)
    relays: int = Field(1, ge=1, le=8)
    lead_s: float = Field(2.0, ge=0, le=30, description="amplifiers on this long before a play")
    hold_s: float = Field(5.0, ge=0, le=600, description="and off this long after the last")
    poll_s: float = Field(30.0, ge=1, le=3600)
    line_min_ma: int = Field(20, ge=0)
    battery_low_v: float = 11.5
    over_temperature_c: float = 65.0


class AgentConfig(_Section):
    device_id: Ident
    controller_url: str = Field(pattern=r"^https?://")
    token: str = Field(min_length=8)
    zones: list[Ident] = Field(default_factory=list)
    data_dir: Path
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    keys: dict[str, str] = Field(min_length=1, description="pinned controller keys: kid = key")
    output: OutputConfig = Field(default_factory=OutputConfig)
    health_interval_s: float = Field(60.0, ge=1)
    ffmpeg: str = "ffmpeg"
    pcm_cache_max_s: float = Field(120.0, ge=0, description="media up to this long is kept "
                                   "decoded in the cache so it starts instantly")
    cache_max_mb: float = Field(2048.0, gt=0, description="media cache size cap (LRU; media "
                                "of the current plan is never evicted)")
    hardware: HardwareConfig = Field(default_factory=HardwareConfig)

    @field_validator("keys")
    @classmethod
    def _keys_match_ids(cls, value: dict[str, str]) -> dict[str, str]:
        for kid, text in value.items():
            try:
                key = load_public_key(text)
            except ValueError as exc:
                raise ValueError(f"key {kid!r}: {exc}") from None
            if key_id(key) != kid:
                raise ValueError(f"key {kid!r} does not match its key id ({key_id(key)})")
        return value

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        return {kid: load_public_key(text) for kid, text in self.keys.items()}

    @property
    def output_dir(self) -> Path:
        return self.output.dir or (self.data_dir / "output")

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
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"{path}: {problems}") from None
