"""``python -m controller.channel``: the station's channel and its recorder, a process of its
own beside the controller (``loalang-channel.service``; the demo starts it too), so a
controller that restarts leaves the channel and the archive running.

It reads the controller's settings (the same ``LOALANG_`` variables and ``.env``)."""

from __future__ import annotations

import logging
import os
import signal
import sys
from urllib.parse import quote

from ..db.session import make_engine, make_sessionmaker
from ..media.store import MediaStore
from ..settings import Settings
from ..streams.sources import CONTROLLER_SOURCE, icecast_target, listen_url
from ..streams.timeline import (
    CHANNEL_MOUNT,
    RelayTimeline,
    station_server,
    station_source_password,
    stream_server_url,
)
from .programme import Programme
from .recorder import Recorder
from .station import StationChannel

log = logging.getLogger("controller.channel")


def environment(settings: Settings) -> dict[str, str]:
    """The ``LOALANG_`` variables that give a channel process these settings (the demo's, a
    test's), over the rest of this process's environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOALANG_")}
    env.update(
        LOALANG_DATA_DIR=str(settings.data_dir),
        LOALANG_ICECAST=settings.icecast,
        LOALANG_ICECAST_HOST=settings.icecast_host,
        LOALANG_ICECAST_PORT=str(settings.icecast_port),
        LOALANG_HTTP_PORT=str(settings.http_port),
        LOALANG_TIMEZONE=settings.timezone,
    )
    optional = {
        "LOALANG_DATABASE_URL": settings.database_url,
        "LOALANG_ARCHIVE_DIR": settings.archive_dir,
        "LOALANG_SHARED_DIR": settings.shared_dir,
    }
    env.update({k: str(v) for k, v in optional.items() if v})
    return env


def build(settings: Settings) -> StationChannel:
    """The channel for these settings: Icecast unless it is off, the recorder always."""
    password = station_source_password(settings)
    host, port = station_server(settings)
    public = stream_server_url(settings)

    def authorise(url: str) -> tuple[str, str]:
        """A stream on the station's Icecast is read with the station's own log-in."""
        if not url.startswith(public + "/"):
            return url, ""
        mount = url[len(public) :]
        return listen_url(host, port, mount, CONTROLLER_SOURCE, password), quote(password, safe="")

    target = None
    if settings.icecast != "off":
        target = icecast_target(host, port, CHANNEL_MOUNT, CONTROLLER_SOURCE, password)
    sessions = make_sessionmaker(make_engine(settings.resolved_database_url))
    store = MediaStore(settings.media_dir)
    recorder = Recorder(settings.resolved_archive_dir, "ffmpeg", settings.archive_kbps)
    programme = Programme(
        sessions, settings.timezone, RelayTimeline.of(settings), settings.default_max_late_s
    )
    return StationChannel(programme, store.path_for, recorder, target, "ffmpeg", authorise)


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings()
    channel = build(settings)
    signal.signal(signal.SIGTERM, lambda *_: channel.stop())
    signal.signal(signal.SIGINT, lambda *_: channel.stop())
    log.info(
        "the station's channel: %s%s, archive %s",
        stream_server_url(settings) if settings.icecast != "off" else "(no Icecast)",
        CHANNEL_MOUNT if settings.icecast != "off" else "",
        settings.resolved_archive_dir,
    )
    channel.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
