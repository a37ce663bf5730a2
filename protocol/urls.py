"""Stream URLs with and without HTTP basic credentials: a device listens to the station's
Icecast with its own; logs, reports and the broadcast log never carry them. And the FM
"URL" ``fm:<kHz>``: a relay of a station through the cluster's own FM tuner (VOV1 at
100.0 MHz is ``fm:100000``), which needs no data link. Pure."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit, urlunsplit

FM_URL = re.compile(r"^fm:(?P<khz>\d{5,6})$")
FM_KHZ = (64_000, 108_000)
"""The broadcast FM band (OIRT's 65.8 MHz up to CCIR's 108), in kHz."""


def fm_url(khz: int) -> str:
    """The relay URL of an FM frequency (``ValueError`` outside the band)."""
    if not FM_KHZ[0] <= khz <= FM_KHZ[1]:
        raise ValueError(f"{khz} kHz is not in the FM band")
    return f"fm:{khz}"


def fm_khz(url: str) -> int | None:
    """The frequency an ``fm:`` URL names (None for any other URL or one outside the band)."""
    m = FM_URL.match(url)
    if m is None:
        return None
    khz = int(m["khz"])
    return khz if FM_KHZ[0] <= khz <= FM_KHZ[1] else None


def with_credentials(url: str, user: str, password: str) -> str:
    """``url`` with HTTP basic credentials in it (how ffmpeg and Icecast take them)."""
    if FM_URL.match(url):
        return url
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(
        parts._replace(netloc=f"{quote(user, safe='')}:{quote(password, safe='')}@{host}")
    )


def without_credentials(url: str) -> str:
    """``url`` as logs and reports may show it."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
