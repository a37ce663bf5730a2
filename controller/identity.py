"""What makes this installation itself, made once and kept in its data dir: the operator's
API token and the controller's id on the broker."""

from __future__ import annotations

import secrets
from pathlib import Path

from .settings import Settings

API_TOKEN_FILE = "api-token"


def load_or_create_api_token(settings: Settings) -> str:
    """The operator token: from settings, else from the data dir, else generated there (0600)."""
    if settings.api_token:
        return settings.api_token
    path = settings.data_dir / API_TOKEN_FILE
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(32)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(token + "\n")
    return token


def controller_id(data_dir: Path) -> str:
    """This installation's own id on the broker, made once and kept in the data dir."""
    path = data_dir / "controller-id"
    if path.is_file():
        return path.read_text().strip()
    value = "c" + secrets.token_hex(4)
    path.write_text(value + "\n")
    return value
