"""``python -m controller.channel``: the station's channel and its recorder, a process of its
own beside the controller (``loalang-channel.service``; the demo starts it too), so a
controller that restarts leaves the channel and the archive running.

It reads the controller's settings (the same ``LOALANG_`` variables and ``.env``)."""

from __future__ import annotations

import logging
import signal
import sys
from urllib.parse import quote

from ..db.session import make_engine, make_sessionmaker
from ..fsutil import secret_file
from ..media.store import MediaStore
from ..settings import Settings
from ..streams.sources import icecast_target
from ..streams.timeline import CHANNEL_MOUNT, RelayTimeline, station_server, stream_server_url
from .programme import Programme
from .recorder import Recorder
from .station import StationChannel

log = logging.getLogger("controller.channel")
SOURCE_USER = "loalang"  # the controller's own source log-in (services/onair.py)


def build(settings: Settings) -> StationChannel:
    """The channel for these settings: Icecast unless it is off, the recorder always."""
    password = settings.icecast_source_password or secret_file(
        settings.data_dir / "icecast" / "source-password"
    )
    host, port = station_server(settings)
    public = stream_server_url(settings)

    def authorise(url: str) -> tuple[str, str]:
        """A stream on the station's Icecast is read with the station's own log-in."""
        if not url.startswith(public + "/"):
            return url, ""
        mount = url[len(public) :]
        login = f"{SOURCE_USER}:{quote(password, safe='')}"
        return f"http://{login}@{host}:{port}{mount}", quote(password, safe="")

    target = None
    if settings.icecast != "off":
        target = icecast_target(host, port, CHANNEL_MOUNT, SOURCE_USER, password)
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
