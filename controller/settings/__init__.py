"""Controller settings, from ``LOALANG_*`` environment variables or a ``.env`` file: the
sections (``sections.py``) joined into one ``Settings``; a variable no section knows stops the
start. ``python -m controller.settings`` prints the reference (docs/settings.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .sections import (
    BroadcastSettings,
    BrokerSettings,
    CapFeed,
    CapSettings,
    CommandValidity,
    FleetSettings,
    LiveSettings,
    MediaSettings,
    NoticeSettings,
    SmsSettings,
    StorageSettings,
    WebSettings,
    is_loopback,
)

__all__ = [
    "CLIENT_VARIABLES",
    "PREFIX",
    "SECTIONS",
    "CapFeed",
    "CommandValidity",
    "Settings",
    "is_loopback",
    "known_variables",
    "unknown_variables",
]

PREFIX = "LOALANG_"
CLIENT_VARIABLES = frozenset(
    {
        "LOALANG_URL",
        "LOALANG_TOKEN",
        "LOALANG_CAP_TOKEN",
        "LOALANG_CONTROLLER",
        "LOALANG_TEST_WORKERS",
    }
)
"""``LOALANG_`` variables that are not the controller's: the operator CLI's, the edge
installer's, the test command's."""


def known_variables() -> tuple[frozenset[str], tuple[str, ...]]:
    """Every variable the controller reads, and the prefixes of nested ones (a section's own
    model: ``LOALANG_COMMAND_VALIDITY__STOP``; a mapping: ``LOALANG_CAP_FEEDS__…``)."""
    names, nested = set(), []
    for section in SECTIONS:
        for name, field in section.model_fields.items():
            var = PREFIX + name.upper()
            names.add(var)
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                names |= {f"{var}__{sub.upper()}" for sub in annotation.model_fields}
            elif "dict[" in str(annotation) or "list[" in str(annotation):
                nested.append(var + "__")
    return frozenset(names), tuple(nested)


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """``LOALANG_`` variables no section knows, each with the closest known name."""
    import difflib

    names, nested = known_variables()
    problems = []
    for var in sorted(environ):
        upper = var.upper()
        if not upper.startswith(PREFIX) or upper in names or upper in CLIENT_VARIABLES:
            continue
        if upper.startswith(nested):
            continue
        close = difflib.get_close_matches(upper, sorted(names), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else ""
        problems.append(f"unknown setting {var}{hint}")
    return problems


SECTIONS: tuple[type[BaseModel], ...] = (
    StorageSettings,
    WebSettings,
    BrokerSettings,
    MediaSettings,
    BroadcastSettings,
    LiveSettings,
    CapSettings,
    FleetSettings,
    SmsSettings,
    NoticeSettings,
)
"""Every section, in the order the reference (docs/settings.md) lists them."""


class Settings(
    NoticeSettings,
    SmsSettings,
    FleetSettings,
    CapSettings,
    LiveSettings,
    BroadcastSettings,
    MediaSettings,
    BrokerSettings,
    WebSettings,
    StorageSettings,
    BaseSettings,
):
    """Everything the controller can be told, by section; defaults give the embedded
    single-machine setup. A ``LOALANG_`` variable no section knows stops the start."""

    model_config = SettingsConfigDict(
        env_prefix="LOALANG_", env_file=".env", extra="forbid", env_nested_delimiter="__"
    )

    @model_validator(mode="after")
    def _no_unknown_variables(self) -> Settings:
        """A mistyped variable was once silently ignored (the default used instead): now it
        stops the start, naming the closest known one."""
        found = dict(os.environ)
        env_file = self.model_config.get("env_file")
        if isinstance(env_file, str) and Path(env_file).is_file():
            from dotenv import dotenv_values

            found.update({k: v or "" for k, v in dotenv_values(env_file).items()})
        problems = unknown_variables(found)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'loalang.db'}"

    @property
    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.http_host}:{self.http_port}").rstrip("/")

    @property
    def agent_mqtt_host(self) -> str:
        """The broker's name as agents off this machine reach it."""
        from urllib.parse import urlsplit

        return (
            self.mqtt_public_host or urlsplit(self.resolved_public_url).hostname or self.mqtt_host
        )

    @property
    def media_dir(self) -> Path:
        return (self.shared_dir or self.data_dir) / "media"

    @property
    def resolved_archive_dir(self) -> Path:
        return self.archive_dir or (self.shared_dir or self.data_dir) / "archive"

    @property
    def voices_dir(self) -> Path:
        """The Piper voices the station installed (``loalang speech voice add``)."""
        return (self.shared_dir or self.data_dir) / "voices"

    @property
    def keys_dir(self) -> Path:
        return (self.shared_dir or self.data_dir) / "keys"
