"""Stream URLs with and without HTTP basic credentials: a device listens to the station's
Icecast with its own; logs, reports and the broadcast log never carry them. Pure."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit


def with_credentials(url: str, user: str, password: str) -> str:
    """``url`` with HTTP basic credentials in it (how ffmpeg and Icecast take them)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(
        parts._replace(netloc=f"{quote(user, safe='')}:{quote(password, safe='')}@{host}")
    )


def without_credentials(url: str) -> str:
    """``url`` as logs and reports may show it."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
