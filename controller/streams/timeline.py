"""Where the station keeps its copy of a relay on its timeline: one mount of its Icecast per
play, named from the play id, so the plans made 48 h ahead and the controller that opens the
copy when the relay starts agree without asking each other. Pure."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..fsutil import secret_file
from ..settings import Settings

RELAY_MOUNT = re.compile(r"^/(r-[0-9a-f]{12})\.ogg$")


def relay_mount(play_id: str) -> str:
    """The mount of a relay play's copy (its id hashed: a plan's play ids hold dots)."""
    return "/r-" + hashlib.sha256(play_id.encode()).hexdigest()[:12] + ".ogg"


def stream_server_url(settings: Settings) -> str:
    """The station's Icecast as devices reach it."""
    s = settings
    return (s.icecast_public_url or f"http://{s.icecast_host}:{s.icecast_port}").rstrip("/")


def station_server(settings: Settings) -> tuple[str, int]:
    """Where the station's own processes reach Icecast: the managed one, else the public one."""
    if settings.icecast == "managed":
        return settings.icecast_host, settings.icecast_port
    public = urlsplit(stream_server_url(settings))
    return public.hostname or "127.0.0.1", public.port or 80


def station_source_password(settings: Settings) -> str:
    """The station's own Icecast password (set, or generated once in the data dir)."""
    return settings.icecast_source_password or secret_file(
        settings.data_dir / "icecast" / "source-password"
    )


CHANNEL_MOUNT = "/kenh.ogg"
"""The station's channel: what the loudspeakers play, when they play it (``kenh``: channel)."""


def channel_url(settings: Settings) -> str:
    """The station's channel as devices and listeners reach it."""
    return stream_server_url(settings) + CHANNEL_MOUNT


@dataclass(frozen=True)
class RelayTimeline:
    """Relays go through the station's stream server and play ``delay_ms`` after it got them."""

    base_url: str
    delay_ms: int

    def url_for(self, play_id: str) -> str:
        return self.base_url + relay_mount(play_id)

    @classmethod
    def of(cls, settings: Settings) -> RelayTimeline | None:
        """None when there is no stream server or relays are set to play out of step."""
        if settings.icecast == "off" or settings.relay_delay_ms == 0:
            return None
        return cls(stream_server_url(settings), settings.relay_delay_ms)
