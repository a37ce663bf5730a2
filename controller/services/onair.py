"""Going live from the station: a live broadcast (``StreamBroadcasts.create``) on a
mount of the station's Icecast, its source (the browser's microphone, the line-in, or a
streaming client such as BUTT with the person's own source password), and the questions
Icecast asks about who may listen and who may speak.

Devices listen with their own credentials and only to a live broadcast they are a target
of; a source may speak only on the mount of a live broadcast that has not ended (the
controller's own sources with the controller's password, a person's client with theirs, on
their own broadcast). When a source goes and does not come back within
``live_source_grace_s``, the broadcast ends by itself."""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import Priority, utcnow

from ..auth import Principal, Role, allowed, token_hash, tokens_equal
from ..db.models import Broadcast, Delivery, User
from ..domain.broadcast import BroadcastState
from ..domain.errors import Conflict, Invalid, NotAllowed, NotFound
from ..fsutil import secret_file
from ..jobs import Jobs
from ..settings import Settings
from ..streams.icecast import AUTH_PATH, IcecastServer
from ..streams.sources import FfmpegSource, icecast_target
from .accounts import AccountService
from .audit import AuditLog
from .broadcasting import StreamBroadcasts, StreamRequest

log = logging.getLogger(__name__)

CONTROLLER_SOURCE = "loalang"  # the user name of the controller's own sources
SOURCES = ("browser", "line_in", "client")
MOUNT = re.compile(r"^/(l-[0-9a-f]{12})\.ogg$")


@dataclass(frozen=True)
class LiveStarted:
    broadcast_id: str
    mount: str
    source: str
    source_url: str  # where a streaming client sends (host, port, mount; its user is the person)


class OnAirService:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        streams: StreamBroadcasts,
        accounts: AccountService,
        jobs: Jobs,
        audit: AuditLog,
    ):
        self.settings = settings
        self._sessions = sessions
        self._streams = streams
        self._accounts = accounts
        self._jobs = jobs
        self._audit = audit
        workdir = settings.data_dir / "icecast"
        self.source_password = settings.icecast_source_password or secret_file(
            workdir / "source-password"
        )
        self.auth_key = secret_file(workdir / "auth-key")  # Icecast's questions carry it
        self._sources: dict[str, FfmpegSource] = {}
        self._lock = threading.Lock()
        self._icecast: IcecastServer | None = None

    # --- the stream server -----------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return self.settings.icecast != "off"

    @property
    def public_url(self) -> str:
        s = self.settings
        return (s.icecast_public_url or f"http://{s.icecast_host}:{s.icecast_port}").rstrip("/")

    def auth_url(self) -> str:
        """The URL Icecast asks (with the key that proves it is the station's Icecast)."""
        host = self.settings.http_host
        host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        return f"http://{host}:{self.settings.http_port}{AUTH_PATH}?key={self.auth_key}"

    def stream_server(self) -> IcecastServer | None:
        """The Icecast this controller runs (``icecast = "managed"``), for the supervisor to
        start and keep running; None otherwise."""
        if self.settings.icecast != "managed":
            return None
        if self._icecast is None:
            try:
                self._icecast = IcecastServer(
                    self.settings.data_dir / "icecast",
                    self.settings.icecast_host,
                    self.settings.icecast_port,
                    self.auth_url(),
                )
            except RuntimeError as exc:  # not installed
                log.error("live broadcasts unavailable: %s", exc)
        return self._icecast

    def stop(self) -> None:
        """Close the live sources (the supervisor stops Icecast itself)."""
        with self._lock:
            sources, self._sources = list(self._sources.values()), {}
        for source in sources:
            source.stop()

    # --- going live ------------------------------------------------------------------------

    def go_live(self, who: Principal, targets: list[str], title: str, source: str) -> LiveStarted:
        """A live broadcast to ``targets`` from ``source``; devices start within the live
        lead and play until it is ended (or its source is gone for the grace time)."""
        if not self.enabled:
            raise Invalid("live.off")
        if source not in SOURCES:
            raise Invalid("live.source", sources=", ".join(SOURCES))
        broadcast_id = "l-" + secrets.token_hex(6)
        mount = f"/{broadcast_id}.ogg"
        self._streams.create(
            StreamRequest(
                kind="live",
                targets=targets,
                urls=[self.public_url + mount],
                title=title,
                auth=True,
                source=source,
                mount=mount,
                broadcast_id=broadcast_id,
            ),
            who,
        )
        if source == "line_in":
            self._attach(
                broadcast_id,
                FfmpegSource.line_in(
                    self.settings.ffmpeg, self.settings.live_line_in, self._target(mount)
                ),
            )
        # a source must come: the browser's within seconds, a person's client a little later
        self._end_later(broadcast_id, self.settings.live_source_grace_s + 45)
        return LiveStarted(broadcast_id, mount, source, self.public_url + mount)

    def end(self, broadcast_id: str, who: Principal | None) -> None:
        """ "Kết thúc": every loudspeaker stops and logs it as played; the source is closed."""
        self._owned(broadcast_id, who)
        self._streams.end(broadcast_id, who)
        self._jobs.cancel(f"live-end:{broadcast_id}")
        self._detach(broadcast_id)

    def browser_feed(self, broadcast_id: str, who: Principal) -> FfmpegSource:
        """The encoder the browser's microphone chunks are written to (one per broadcast: a
        reconnect replaces it)."""
        row = self._owned(broadcast_id, who)
        if row.stream is None or row.stream.get("source") != "browser":
            raise Conflict("live.not_browser")
        source = FfmpegSource.browser(self.settings.ffmpeg, self._target(row.stream["mount"]))
        self._attach(broadcast_id, source)
        return source

    def feed_closed(self, broadcast_id: str, source: FfmpegSource) -> None:
        """The browser's socket closed: its encoder goes (the mount's end starts the grace)."""
        with self._lock:
            if self._sources.get(broadcast_id) is source:
                del self._sources[broadcast_id]
        source.stop()

    def new_source_password(self, who: Principal) -> str:
        """A new source password for this person's streaming client (shown once)."""
        password = secrets.token_urlsafe(12)
        with self._sessions.begin() as session:
            user = session.scalar(select(User).where(User.username == who.username))
            if user is None:
                raise NotFound("user.not_found")
            user.source_password_hash = token_hash(password)
        self._audit.record(who, "live.source_password", who.username)
        return password

    # --- Icecast's questions ---------------------------------------------------------------

    def icecast_says(self, key: str, form: dict[str, str]) -> bool:
        """Answer one URL-authentication call: may this listener listen, this source speak;
        a source came or went."""
        if not hmac.compare_digest(key.encode(), self.auth_key.encode()):
            log.warning("Icecast call without the station's key refused")
            return False
        action, mount = form.get("action", ""), form.get("mount", "").split("?")[0]
        found = MOUNT.match(mount)
        broadcast_id = found.group(1) if found else None
        if action == "listener_add":
            return self._may_listen(broadcast_id, form.get("user", ""), form.get("pass", ""))
        if action == "stream_auth":
            return self._may_speak(broadcast_id, form.get("user", ""), form.get("pass", ""))
        if action == "mount_add" and broadcast_id:
            self._jobs.cancel(f"live-end:{broadcast_id}")
            log.info("live %s: source on air", broadcast_id)
            return True
        if action == "mount_remove" and broadcast_id:
            log.info(
                "live %s: source gone; ends in %.0f s unless it comes back",
                broadcast_id,
                self.settings.live_source_grace_s,
            )
            self._end_later(broadcast_id, self.settings.live_source_grace_s)
            return True
        return False

    def _may_listen(self, broadcast_id: str | None, user: str, password: str) -> bool:
        device_id = self._accounts.device_for_token(password)
        if device_id is None or device_id != user or broadcast_id is None:
            return False
        with self._sessions() as session:
            return (
                session.scalar(
                    select(Delivery.id)
                    .join(Broadcast)
                    .where(
                        Delivery.broadcast_id == broadcast_id,
                        Delivery.device_id == device_id,
                        Broadcast.ended_at.is_(None),
                    )
                )
                is not None
            )

    def _may_speak(self, broadcast_id: str | None, user: str, password: str) -> bool:
        if broadcast_id is None:
            return False
        with self._sessions() as session:
            row = session.get(Broadcast, broadcast_id)
            if (
                row is None
                or row.stream is None
                or row.ended_at is not None
                or row.state not in BroadcastState.awaiting_play()
            ):
                return False
            if user == CONTROLLER_SOURCE:
                return tokens_equal(password, self.source_password)
            person = session.scalar(select(User).where(User.username == user))
            if person is None or not person.active or person.source_password_hash is None:
                return False
            roles = frozenset(Role(r) for r in person.roles)
            return (
                row.created_by == user
                and allowed(roles, "live.start")
                and tokens_equal(person.source_password_hash, token_hash(password))
            )

    # --- helpers ---------------------------------------------------------------------------

    def _owned(self, broadcast_id: str, who: Principal | None) -> Broadcast:
        with self._sessions() as session:
            row = session.get(Broadcast, broadcast_id)
            if row is None or row.priority != Priority.live.value:
                raise NotFound("broadcast.not_found")
            if (
                who is not None
                and row.created_by != who.username
                and not allowed(who.roles, "live.end_any")
            ):
                raise NotAllowed("live.not_yours")
            session.expunge(row)
            return row

    def _target(self, mount: str) -> str:
        """Where the controller's own sources send: its managed Icecast, else the public one."""
        s = self.settings
        if s.icecast == "managed":
            host, port = s.icecast_host, s.icecast_port
        else:
            public = urlsplit(self.public_url)
            host, port = public.hostname or "127.0.0.1", public.port or 80
        return icecast_target(host, port, mount, CONTROLLER_SOURCE, self.source_password)

    def _attach(self, broadcast_id: str, source: FfmpegSource) -> None:
        with self._lock:
            old, self._sources[broadcast_id] = self._sources.get(broadcast_id), source
        if old is not None:
            old.stop()

    def _detach(self, broadcast_id: str) -> None:
        with self._lock:
            source = self._sources.pop(broadcast_id, None)
        if source is not None:
            source.stop()

    def _end_later(self, broadcast_id: str, seconds: float) -> None:
        self._jobs.at(
            utcnow() + timedelta(seconds=seconds),
            f"live-end:{broadcast_id}",
            self._end_unattended,
            broadcast_id,
        )

    def _end_unattended(self, broadcast_id: str) -> None:
        log.warning(
            "live %s: no source for %.0f s; ending it",
            broadcast_id,
            self.settings.live_source_grace_s,
        )
        self._streams.end(broadcast_id, None)
        self._detach(broadcast_id)
