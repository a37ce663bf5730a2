"""Going live from the station: a live broadcast (``StreamBroadcasts.create``) on a
mount of the station's Icecast, its source (the browser's microphone, the line-in, or a
streaming client such as BUTT with the person's own source password), and the questions
Icecast asks about who may listen and who may speak.

Devices listen with their own credentials and only to a live broadcast they are a target
of; a source may speak only on the mount of a live broadcast that has not ended (the
controller's own sources with the controller's password, a person's client with theirs, on
their own broadcast). When a source goes and does not come back within
``live_source_grace_s``, the broadcast ends by itself.

Every live broadcast has a channel (``streams/channel.py``): the controller's encoder on
the mount the devices hear, paced by the controller's clock and stamped with it, so every
loudspeaker plays each piece ``live_delay_ms`` after it was captured, all together. A
streaming client sends to the broadcast's own input mount (``/l-….in.ogg``); the channel
reads it from there."""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

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
from ..streams.channel import LiveChannel, LiveInput
from ..streams.icecast import AUTH_PATH, IcecastServer
from ..streams.sources import CONTROLLER_SOURCE, icecast_target, listen_url
from ..streams.timeline import (
    CHANNEL_MOUNT,
    RELAY_MOUNT,
    station_server,
    station_source_password,
    stream_server_url,
)
from .accounts import AccountService
from .audit import AuditLog
from .broadcasting import StreamBroadcasts, StreamRequest
from .listeners import ListenerRecords

log = logging.getLogger(__name__)

SOURCES = ("browser", "line_in", "client")
MOUNT = re.compile(r"^/(l-[0-9a-f]{12})(\.in)?\.ogg$")  # the channel; a client's input


@dataclass(frozen=True)
class LiveStarted:
    broadcast_id: str
    mount: str
    source: str
    source_url: str  # where a streaming client sends (host, port, mount; its user is the person)
    delay_ms: int  # every loudspeaker speaks this long after the microphone


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
        self.source_password = station_source_password(settings)
        self.auth_key = secret_file(workdir / "auth-key")  # Icecast's questions carry it
        self._channels: dict[str, LiveChannel] = {}
        self._lock = threading.Lock()
        self._icecast: IcecastServer | None = None
        self.listeners: ListenerRecords | None = None  # the station's channel's listeners

    # --- the stream server -----------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return self.settings.icecast != "off"

    @property
    def public_url(self) -> str:
        return stream_server_url(self.settings)

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
            channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            channel.stop()

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
                delay_ms=self.settings.live_delay_ms,
            ),
            who,
        )
        channel = LiveChannel(self.settings.ffmpeg, self.target(mount), broadcast_id)
        with self._lock:
            self._channels[broadcast_id] = channel
        # a source must come: the browser's within seconds, a person's client a little later
        self._end_later(broadcast_id, self.settings.live_source_grace_s + 45)
        if source == "line_in":
            self._jobs.cancel(f"live-end:{broadcast_id}")
            channel.attach(
                "line_in", shlex.split(self.settings.live_line_in), self._input_ended(broadcast_id)
            )
        return LiveStarted(
            broadcast_id,
            mount,
            source,
            f"{self.public_url}/{broadcast_id}.in.ogg",
            self.settings.live_delay_ms,
        )

    def end(self, broadcast_id: str, who: Principal | None) -> None:
        """ "Kết thúc": every loudspeaker stops and logs it as played; the source is closed."""
        self._owned(broadcast_id, who)
        self._streams.end(broadcast_id, who)
        self._jobs.cancel(f"live-end:{broadcast_id}")
        self._close_channel(broadcast_id)

    def browser_feed(self, broadcast_id: str, who: Principal) -> LiveInput:
        """The decoder the browser's microphone chunks are written to (one per broadcast: a
        reconnect replaces it)."""
        row = self._owned(broadcast_id, who)
        if row.stream is None or row.stream.get("source") != "browser":
            raise Conflict("live.not_browser")
        channel = self._channel(broadcast_id)
        self._jobs.cancel(f"live-end:{broadcast_id}")
        return channel.attach("browser", None, self._input_ended(broadcast_id))

    def feed_closed(self, broadcast_id: str, source: LiveInput) -> None:
        """The browser's socket closed: its decoder goes and the grace time starts."""
        if not self._source_lost(broadcast_id, source):
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
        user, password = form.get("user", ""), form.get("pass", "")
        if mount == CHANNEL_MOUNT and self.listeners is not None:  # the station's channel
            client = form.get("client", "")
            if action == "listener_add":
                return self.listeners.may_listen(mount, client, user, password)
            if action == "listener_remove":
                self.listeners.left(client)
                return True
            if action == "stream_auth":
                return user == CONTROLLER_SOURCE and tokens_equal(password, self.source_password)
            return action in ("mount_add", "mount_remove")
        if action == "listener_add" and self._is_station(user, password):
            return True  # the station's channel process carries every live voice and relay
        if RELAY_MOUNT.match(mount):  # the station's copy of a relay (relay_copies.py)
            if action == "listener_add":  # any device of the station, with its own log-in
                return self._accounts.device_for_token(password) == user != ""
            if action == "stream_auth":
                return user == CONTROLLER_SOURCE and tokens_equal(password, self.source_password)
            return action in ("mount_add", "mount_remove")
        found = MOUNT.match(mount)
        broadcast_id = found.group(1) if found else None
        is_input = bool(found and found.group(2))  # a person's client sends there
        if action == "listener_add":
            return not is_input and self._may_listen(broadcast_id, user, password)
        if action == "stream_auth":
            return self._may_speak(broadcast_id, user, password, is_input)
        if action == "mount_add" and broadcast_id:
            if is_input:
                self._client_came(broadcast_id, mount)
            log.info("live %s: %s on air", broadcast_id, "client" if is_input else "channel")
            return True
        if action == "mount_remove" and broadcast_id:
            if is_input:
                self._source_lost(broadcast_id, None)
            else:
                log.info("live %s: channel off the stream server", broadcast_id)
            return True
        return False

    def _client_came(self, broadcast_id: str, mount: str) -> None:
        """A person's client is on its input mount: the channel reads it from there."""
        with self._lock:
            channel = self._channels.get(broadcast_id)
        if channel is None:
            return
        self._jobs.cancel(f"live-end:{broadcast_id}")
        url = self._local_url(mount, CONTROLLER_SOURCE, self.source_password)
        channel.attach(
            "client", ["-i", url], self._input_ended(broadcast_id), secret=self.source_password
        )

    def _input_ended(self, broadcast_id: str) -> Callable[[LiveInput], None]:
        def ended(source: LiveInput) -> None:
            log.warning("live %s: source ended (%s)", broadcast_id, source.error() or "no error")
            self._source_lost(broadcast_id, source)

        return ended

    def _source_lost(self, broadcast_id: str, source: LiveInput | None) -> bool:
        """A source went (``source``, or whichever is attached): the channel carries silence
        and the grace time starts. False when the broadcast has no channel any more."""
        with self._lock:
            channel = self._channels.get(broadcast_id)
        if channel is None:
            return False
        channel.detach(source)
        log.info(
            "live %s: source gone; ends in %.0f s unless it comes back",
            broadcast_id,
            self.settings.live_source_grace_s,
        )
        self._end_later(broadcast_id, self.settings.live_source_grace_s)
        return True

    def _is_station(self, user: str, password: str) -> bool:
        """The controller's own log-in (its live channels, the station's channel process)."""
        return user == CONTROLLER_SOURCE and tokens_equal(password, self.source_password)

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

    def _may_speak(
        self, broadcast_id: str | None, user: str, password: str, is_input: bool
    ) -> bool:
        """The channel's mount: only the controller; a client's input: only its person."""
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
                return not is_input and tokens_equal(password, self.source_password)
            if not is_input:
                return False
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

    def _server(self) -> tuple[str, int]:
        return station_server(self.settings)

    def target(self, mount: str) -> str:
        """Where a channel's encoder sends (as the controller's own source)."""
        host, port = self._server()
        return icecast_target(host, port, mount, CONTROLLER_SOURCE, self.source_password)

    def _local_url(self, mount: str, user: str, password: str) -> str:
        return listen_url(*self._server(), mount, user, password)

    def _channel(self, broadcast_id: str) -> LiveChannel:
        with self._lock:
            channel = self._channels.get(broadcast_id)
        if channel is None:
            raise Conflict("live.ended")
        return channel

    def _close_channel(self, broadcast_id: str) -> None:
        with self._lock:
            channel = self._channels.pop(broadcast_id, None)
        if channel is not None:
            channel.stop()

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
        self._close_channel(broadcast_id)
