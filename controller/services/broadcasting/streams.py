"""Streams as broadcasts: a live voice from the station (never held: it cannot be approved before
it is spoken) or a relay (held like any bulletin of its sender), and ending one ("Kết thúc")."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import CancelCommand, Priority, utcnow
from protocol.urls import fm_khz, without_credentials

from ...auth import Principal
from ...db.models import Broadcast, Media
from ...domain.broadcast import BroadcastState as S
from ...domain.errors import Conflict, Invalid, NotFound
from ...fleet.commands import CommandPath
from ...streams.timeline import RelayTimeline
from ..audit import AuditLog
from .lifecycle import BroadcastService
from .records import StreamRequest, get_row, hold_of, resolve_devices, store

RELAY_COPY_START_S = 1.0  # the station's copy of a relay takes this long to give its first audio


class StreamBroadcasts:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        commands: CommandPath,
        broadcasts: BroadcastService,
        audit: AuditLog,
        changed: Callable[[], None] = lambda: None,
    ):
        self._sessions = sessions
        self._commands = commands
        self._broadcasts = broadcasts
        self._times = broadcasts.times
        self._sender = broadcasts.sender
        self.settings = broadcasts.settings
        self._audit = audit
        self._changed = changed  # the banner on every page

    def create(self, req: StreamRequest, who: Principal) -> str:
        """Store a live or relay broadcast (a stream instead of a stored file). A live voice is
        never held: it cannot be approved before it is spoken (it is audited, and anyone on
        duty can STOP it); a relay waits for approval like any bulletin of its sender."""
        priority = Priority.live if req.kind == "live" else (req.priority or Priority.normal)
        if req.kind == "relay" and priority in (Priority.live, Priority.emergency):
            raise Invalid("live.relay_priority")
        if not req.targets:
            raise Invalid("broadcast.no_targets")
        if not req.urls:
            raise Invalid("live.no_stream")
        hold = None if req.kind == "live" else hold_of(who, priority)
        duration = req.duration_s or self.settings.live_max_s
        if not 1 <= duration <= self.settings.live_max_s:
            raise Invalid("live.duration", max_min=self.settings.live_max_s // 60)
        # the station keeps a copy of a relay on its timeline; not of an FM one (each
        # cluster's own tuner hears the transmitter, in step by nature, with no data link)
        on_air = req.kind == "relay" and fm_khz(req.urls[0]) is None
        timeline = RelayTimeline.of(self.settings) if on_air else None
        lead = timedelta(seconds=self.settings.live_lead_s)
        if timeline is not None:  # the station's copy opens when it is sent: room for its delay
            lead += timedelta(seconds=timeline.delay_ms / 1000 + RELAY_COPY_START_S)
        timing = self._times.window(req.start_at, duration, lead)  # may join while it lasts
        broadcast_id = (
            req.broadcast_id or ("l-" if req.kind == "live" else "r-") + uuid.uuid4().hex[:12]
        )
        targets = sorted(set(req.targets))
        now = utcnow()
        with self._sessions.begin() as session:
            device_ids = resolve_devices(session, targets)
            if not device_ids:
                raise Invalid("broadcast.no_devices")
            if req.fallback_media_sha256 and session.get(Media, req.fallback_media_sha256) is None:
                raise NotFound("media.not_found")
            self._times.check_quiet(session, device_ids, timing.start_at, priority)
            store(
                session,
                device_ids,
                Broadcast(
                    id=broadcast_id,
                    title=req.title or ("Phát trực tiếp" if req.kind == "live" else "Tiếp sóng"),
                    media_sha256=None,
                    priority=priority.value,
                    targets=targets,
                    stream=dict(
                        kind=req.kind,
                        urls=list(req.urls),
                        duration_s=duration,
                        auth=req.auth,
                        source=req.source,
                        mount=req.mount,
                        fallback_media=req.fallback_media_sha256,
                        silence_s=req.silence_s,
                        delay_ms=timeline.delay_ms if timeline else req.delay_ms,
                        station_url=timeline.url_for(broadcast_id) if timeline else None,
                    ),
                    start_at=timing.start_at,
                    send_at=timing.send_at,
                    not_after=timing.not_after,
                    state=hold or S.scheduled,
                    created_at=now,
                    created_by=who.username,
                    start_on_release=req.start_at is None,
                    approved_by=None if hold else who.username,
                    approved_at=None if hold else now,
                ),
            )
        self._audit.record(
            who,
            f"broadcast.{req.kind}",
            broadcast_id,
            targets=targets,
            urls=[without_credentials(u) for u in req.urls],
            duration_s=duration,
            source=req.source,
            held=hold.value if hold else None,
        )
        if hold is None:
            self._sender.released(broadcast_id, timing.send_at)
        self._changed()  # waiting for approval, or on air (the banner on every page)
        return broadcast_id

    def end(self, broadcast_id: str, who: Principal | None) -> None:
        """A live broadcast (or a relay) is over: every device stops it and reports it played
        ("Kết thúc"), not interrupted."""
        now = utcnow()
        with self._sessions.begin() as session:
            broadcast = get_row(session, broadcast_id)
            if broadcast.stream is None:
                raise Conflict("live.not_a_stream")
            if broadcast.ended_at is not None or broadcast.state in (S.done, S.cancelled):
                return  # ended already (the browser said so twice, or its source went)
            started = broadcast.state == S.sent
            if started:
                broadcast.ended_at = now
            targets = list(broadcast.targets)
        if not started:
            self._broadcasts.cancel(broadcast_id, who)
            return
        if who is not None:
            self._audit.record(who, "broadcast.end", broadcast_id)
        for target in targets:
            self._commands.send(
                target, CancelCommand(play_id=broadcast_id, ended=True), broadcast_id=broadcast_id
            )
        self._sender.close_later(
            broadcast_id, now + timedelta(seconds=self.settings.missed_grace_s)
        )
        self._changed()
