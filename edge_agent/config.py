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


class OutputConfig(_Section):
    backend: Literal["alsa", "file"] = "alsa"
    device: str = "default"
    dir: Path | None = Field(None, description="file backend: where WAVs are written")


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
