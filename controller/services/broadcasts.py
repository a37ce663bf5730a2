"""Broadcasts: create, hold for approval, release, send, cancel, close, STOP; recover after a
restart. States and their moves are ``domain.broadcast``; every command goes through
``fleet.commands.CommandPath``.

Each state change is a conditional UPDATE from the state it leaves, so two workers (or two
controllers on PostgreSQL) never both send a broadcast.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import String, cast, func, or_, select, update
from sqlalchemy.orm import Session, lazyload, sessionmaker

from protocol.messages import (
    CancelCommand,
    MediaRef,
    PlayCommand,
    PrepareCommand,
    Priority,
    StopCommand,
    StreamRef,
    one_line,
    utcnow,
)
from protocol.urls import without_credentials

from ..auth import Principal, hold_for
from ..db.models import (
    Broadcast,
    Command,
    Delivery,
    Device,
    DeviceEvent,
    DeviceZone,
    Media,
    Zone,
)
from ..domain.broadcast import BroadcastState as S
from ..domain.broadcast import can_move
from ..domain.delivery import TERMINAL, DeliveryState, summarise
from ..domain.errors import Conflict, DomainError, Invalid, NotAllowed, NotFound
from ..domain.outcome import RESENDABLE, outcome
from ..domain.repeats import repetition_starts
from ..domain.timing import BroadcastTiming, TimingError, plan_timing
from ..fleet.commands import CommandPath, SentCommand
from ..jobs import Jobs
from ..schedules.checks import quiet_at
from ..schedules.model import QuietHours
from ..settings import Settings
from .audit import AuditLog
from .views import BroadcastOut, DeliveryOut, DeviceEventOut, StopOut, StreamOut

log = logging.getLogger(__name__)

MISSED_REASON = "no start reported in the play window (device offline, late or out of storage)"


@dataclass(frozen=True)
class BroadcastRequest:
    media_sha256: str
    targets: list[str]
    start_at: datetime | None = None
    priority: Priority = Priority.normal
    title: str = ""
    max_late_s: int | None = None
    volume: int | None = None
    quiet_override: bool = False  # play inside quiet hours on purpose (an approver decides)
    repeat_every_s: int | None = None  # a series: this often, ``repeat_count`` plays in all
    repeat_count: int = 1
    repeat_media_sha256: str | None = None  # what the repetitions play (the issue time first)


@dataclass
class StreamRequest:
    """A live voice from the station or a relay (VOV, the provincial station), now or at
    ``start_at``: ``urls`` first to last are the stream and its fallbacks."""

    kind: Literal["live", "relay"]
    targets: list[str]
    urls: list[str]
    title: str = ""
    duration_s: int | None = None  # live: until it is ended (at most ``live_max_s``)
    start_at: datetime | None = None
    priority: Priority | None = None  # live: always ``live``; relay: normal unless said
    auth: bool = False  # the station's own stream server: devices listen with credentials
    source: str | None = None  # live: browser, line_in, client (shown, audited)
    mount: str | None = None  # the station's stream server's mount it plays
    broadcast_id: str | None = None  # chosen by the caller (the mount is named by it)
    fallback_media_sha256: str | None = None  # relay: plays when no URL gives sound
    silence_s: int | None = None  # dead air longer than this on a URL: the next is tried


def resolve_devices(session: Session, targets: list[str]) -> list[str]:
    """Ids of the active devices a list of targets reaches, each once, sorted."""
    ids: set[str] = set()
    for target in targets:
        if target == "all":
            ids.update(session.scalars(select(Device.id).where(Device.retired.is_(False))))
            continue
        kind, _, ident = target.partition(":")
        if kind == "zone":
            if session.get(Zone, ident) is None:
                raise NotFound("zone.not_found", id=ident)
            ids.update(
                session.scalars(
                    select(Device.id)
                    .join(DeviceZone, DeviceZone.device_id == Device.id)
                    .where(DeviceZone.zone_id == ident, Device.retired.is_(False))
                )
            )
        elif kind == "device":
            device = session.get(Device, ident)
            if device is None or device.retired:
                raise NotFound("device.not_found", id=ident)
            ids.add(ident)
    return sorted(ids)


def _claim(session: Session, broadcast_id: str, source: S, dest: S) -> bool:
    """Move ``source`` → ``dest`` if the broadcast is still in ``source`` (a move the state
    machine allows: ``domain.broadcast.can_move``)."""
    if not can_move(source, dest):
        raise ValueError(f"a broadcast never moves from {source.value} to {dest.value}")
    result = session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast_id, Broadcast.state == source.value)
        .values(state=dest.value)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


class BroadcastService:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        commands: CommandPath,
        jobs: Jobs,
        audit: AuditLog,
        plans_changed: Callable[[], None] = lambda: None,
        quiet_hours: Callable[[], list[QuietHours]] = lambda: [],
        changed: Callable[[], None] = lambda: None,
        announce: Callable[[str], None] = lambda _id: None,
    ):
        self.settings = settings
        self._changed = changed  # open pages show what waits for someone and what is on air
        self._announce = announce  # tell the leading controller (it sends if this one dies)
        self._quiet_hours = quiet_hours  # the site's, as the schedule set holds them
        self._sessions = sessions
        self._commands = commands
        self._jobs = jobs
        self._audit = audit
        self._plans_changed = plans_changed  # a one-off ahead travels in the device plans
        commands.listeners.append(self._on_published)

    # --- creating --------------------------------------------------------------------------

    def emergency_lead(self) -> timedelta:
        """How far ahead an emergency starts: what the fleet's commands take to arrive (p99 of
        the last 500 plays from signing to the device's ack, plus 0.25 s), not the fixed lead
        a normal bulletin's download needs — an emergency's media is already on the devices
        (``PrepareCommand``)."""
        settings = self.settings
        with self._sessions() as session:  # signed → accepted by the device, per delivery
            rows = session.execute(
                select(Command.issued_at, Delivery.acked_at)
                .join(Delivery, Delivery.broadcast_id == Command.broadcast_id)
                .where(Command.type == "play", Delivery.acked_at.is_not(None))
                .order_by(Command.issued_at.desc())
                .limit(500)
            ).all()
        taken = sorted(s for s in ((a - b).total_seconds() for b, a in rows) if s >= 0)
        if not taken:
            return timedelta(
                seconds=min(settings.emergency_lead_unmeasured_s, settings.sync_lead_s)
            )
        p99 = taken[min(len(taken) - 1, int(len(taken) * 0.99))]
        return timedelta(
            seconds=min(settings.sync_lead_s, max(settings.emergency_lead_min_s, p99 + 0.25))
        )

    def _lead(self, priority: Priority) -> timedelta:
        """A "now" broadcast's sync lead (an emergency's is measured: one query)."""
        return (
            self.emergency_lead()
            if priority == Priority.emergency
            else timedelta(seconds=self.settings.sync_lead_s)
        )

    def _timing(
        self, start_at: datetime | None, max_late_s: int | None, lead: timedelta
    ) -> BroadcastTiming:
        max_late = max_late_s if max_late_s is not None else self.settings.default_max_late_s
        try:
            return plan_timing(
                now=utcnow(),
                requested_start=start_at,
                sync_lead=lead,
                prefetch_lead=timedelta(seconds=self.settings.prefetch_lead_s),
                max_late=timedelta(seconds=max_late),
            )
        except TimingError:
            raise Invalid("broadcast.past_time") from None

    def check_quiet(
        self, session: Session, device_ids: list[str], start_at: datetime, priority: Priority
    ) -> None:
        """Refuse a start inside the quiet hours of a zone the devices are in (emergencies
        excepted)."""
        if priority == Priority.emergency:
            return
        quiet_hours = self._quiet_hours()
        if not quiet_hours:
            return
        zones = (
            set(
                session.scalars(
                    select(DeviceZone.zone_id).where(DeviceZone.device_id.in_(device_ids))
                )
            )
            if device_ids
            else set()
        )
        local = start_at.astimezone(ZoneInfo(self.settings.timezone))
        hit = quiet_at(local.replace(tzinfo=None), zones, quiet_hours)
        if hit is not None:
            raise Invalid(
                "broadcast.quiet_hours",
                at=f"{local:%H:%M}",
                start=f"{hit.start:%H:%M}",
                end=f"{hit.end:%H:%M}",
            )

    def quiet_problem(
        self, targets: list[str], start_at: datetime | None, priority: Priority
    ) -> None:
        """The quiet-hours check alone, before a bulletin is made (the send form)."""
        with self._sessions() as session:
            devices = resolve_devices(session, sorted(set(targets)))
            self.check_quiet(session, devices, start_at or utcnow(), priority)

    def create(self, req: BroadcastRequest, who: Principal, *, draft: bool = False) -> str:
        """Store a broadcast and its per-device deliveries. What it waits for follows from who
        sends it: a broadcaster's waits for an approver, every emergency for a second person,
        a draft for its author; otherwise it is scheduled at once."""
        hold = S.draft if draft else _hold(who, req.priority)
        if req.priority == Priority.live:
            raise Invalid("live.file_not_live")  # live is a voice from the station (go_live)
        if not req.targets:
            raise Invalid("broadcast.no_targets")
        now = utcnow()
        lead = self._lead(req.priority)
        timing = self._timing(req.start_at, req.max_late_s, lead)
        broadcast_id = "b-" + uuid.uuid4().hex[:12]
        targets = sorted(set(req.targets))
        with self._sessions.begin() as session:
            media = session.get(Media, req.media_sha256)
            if media is None:
                raise NotFound("media.not_found")
            device_ids = resolve_devices(session, targets)
            if not device_ids:
                raise Invalid("broadcast.no_devices")
            if not req.quiet_override:
                self.check_quiet(session, device_ids, timing.start_at, req.priority)
            first = Broadcast(
                id=broadcast_id,
                title=req.title or media.title,
                media_sha256=media.sha256,
                priority=req.priority.value,
                targets=targets,
                volume=req.volume
                if req.volume is not None or req.priority != Priority.emergency
                else self.settings.emergency_volume,
                start_at=timing.start_at,
                send_at=timing.send_at,
                not_after=timing.not_after,
                state=(hold or S.scheduled).value,
                created_at=now,
                created_by=who.username,
                start_on_release=req.start_at is None,
                quiet_override=req.quiet_override,
                approved_by=None if hold else who.username,
                approved_at=None if hold else now,
            )
            self._store(session, device_ids, first)
            repetitions = self._store_repetitions(session, req, first, device_ids, lead)
        self._audit.record(
            who,
            "broadcast.create",
            broadcast_id,
            media=req.media_sha256,
            targets=targets,
            priority=req.priority.value,
            held=hold.value if hold else None,
            **({"quiet_override": True} if req.quiet_override else {}),
            **(
                {"repeat_every_s": req.repeat_every_s, "repeat_count": req.repeat_count}
                if repetitions
                else {}
            ),
        )
        if hold is None:
            self._released(broadcast_id, timing.send_at)
            for repetition_id, send_at in repetitions:
                self._released(repetition_id, send_at)
        elif hold == S.pending_confirmation:
            self._prepare(broadcast_id)
        if hold is not None:
            self._changed()
        return broadcast_id

    def _store_repetitions(
        self,
        session: Session,
        req: BroadcastRequest,
        first: Broadcast,
        device_ids: list[str],
        lead: timedelta,
    ) -> list[tuple[str, datetime]]:
        """The repetitions of a series, each a broadcast of its own (its own signed play and
        log rows), in the first's state; their times follow the first's release."""
        if req.repeat_count <= 1 or not req.repeat_every_s:
            return []
        media = session.get(Media, req.repeat_media_sha256 or first.media_sha256)
        if media is None:
            raise NotFound("media.not_found")
        every = timedelta(seconds=req.repeat_every_s)
        first.series_id, first.repeat_every_s = first.id, req.repeat_every_s
        out = []
        starts = repetition_starts(first.start_at, every, req.repeat_count)
        for k, start in enumerate(starts[1:], 1):
            if not req.quiet_override:
                self.check_quiet(session, device_ids, start, req.priority)
            timing = self._timing(start, req.max_late_s, lead)
            self._store(
                session,
                device_ids,
                Broadcast(
                    id=f"{first.id}-r{k}",
                    title=first.title,
                    media_sha256=media.sha256,
                    priority=first.priority,
                    targets=first.targets,
                    volume=first.volume,
                    start_at=timing.start_at,
                    send_at=timing.send_at,
                    not_after=timing.not_after,
                    state=first.state,
                    created_at=first.created_at,
                    created_by=first.created_by,
                    start_on_release=False,
                    quiet_override=first.quiet_override,
                    approved_by=first.approved_by,
                    approved_at=first.approved_at,
                    series_id=first.id,
                    repeat_index=k,
                    repeat_every_s=req.repeat_every_s,
                ),
            )
            out.append((f"{first.id}-r{k}", timing.send_at))
        return out

    @staticmethod
    def _later_in_series(session: Session, broadcast: Broadcast) -> list[Broadcast]:
        if broadcast.series_id is None:
            return []
        return list(
            session.scalars(
                select(Broadcast)
                .where(
                    Broadcast.series_id == broadcast.series_id,
                    Broadcast.repeat_index > broadcast.repeat_index,
                )
                .order_by(Broadcast.repeat_index)
            )
        )

    def update_series(self, broadcast_id: str, media_sha256: str, who: Principal) -> list[str]:
        """A new message for the repetitions still to come (not yet sent); returns their ids."""
        now = utcnow()
        with self._sessions.begin() as session:
            broadcast = self._get_row(session, broadcast_id)
            if session.get(Media, media_sha256) is None:
                raise NotFound("media.not_found")
            waiting = {S.scheduled.value, *(h.value for h in S.held()), S.draft.value}
            changed = [
                b
                for b in [broadcast, *self._later_in_series(session, broadcast)]
                if b.repeat_index > 0 and b.state in waiting and b.send_at > now
            ]
            if not changed:
                raise Conflict("broadcast.nothing_to_update")
            for b in changed:
                b.media_sha256 = media_sha256
            ids = [b.id for b in changed]
        self._audit.record(
            who, "broadcast.update", broadcast_id, media=media_sha256, repetitions=ids
        )
        self._plans_changed()  # the repetitions ahead travel in the plans
        return ids

    def _prepare(self, broadcast_id: str) -> None:
        """While an emergency waits for its second person, its media goes to the devices (a
        signed prepare that plays nothing): on confirmation only the play command flies."""
        with self._sessions() as session:
            broadcast = self._get_row(session, broadcast_id)
            media = broadcast.media
            prepare = PrepareCommand(
                play_id=broadcast.id,
                media=MediaRef(
                    sha256=media.sha256,
                    url=f"/media/{media.sha256}",
                    size=media.size,
                    duration_ms=media.duration_ms,
                    mime=media.mime,
                ),
            )
            targets = list(broadcast.targets)
        for target in targets:
            self._commands.send(target, prepare, broadcast_id=broadcast_id)

    def submit(self, broadcast_id: str, who: Principal) -> None:
        """Its author sends a draft on, as if created now: to an approver, to a second person
        (an emergency), or straight out (an approver's or admin's own)."""
        try:
            with self._sessions.begin() as session:
                broadcast = self._get_row(session, broadcast_id)
                if broadcast.created_by != who.username:
                    raise NotAllowed("broadcast.not_yours")
                if broadcast.state != S.draft.value:
                    raise Conflict("broadcast.not_draft", state=broadcast.state)
                hold = _hold(who, Priority(broadcast.priority))
                if hold is not None and not _claim(session, broadcast_id, S.draft, hold):
                    raise Conflict("broadcast.not_draft", state=broadcast.state)
                if hold is not None:
                    for repetition in self._later_in_series(session, broadcast):
                        _claim(session, repetition.id, S.draft, hold)
            if hold is None:
                self._release(broadcast_id, who.username, S.draft, by_author=True)
            elif hold == S.pending_confirmation:
                self._prepare(broadcast_id)
        except DomainError as exc:
            self._audit.record(who, "broadcast.submit", broadcast_id, "denied", error=exc.key)
            raise
        self._audit.record(who, "broadcast.submit", broadcast_id)

    def approve(self, broadcast_id: str, who: Principal) -> None:
        """An approver releases a broadcaster's broadcast (never their own)."""
        self._release_audited(broadcast_id, who, S.pending_approval, "broadcast.approve")

    def confirm(self, broadcast_id: str, who: Principal) -> None:
        """The second person of an emergency: someone other than its sender."""
        self._release_audited(broadcast_id, who, S.pending_confirmation, "broadcast.confirm")

    def _release_audited(self, broadcast_id: str, who: Principal, held_as: S, action: str) -> None:
        try:
            self._release(broadcast_id, who.username, held_as)
        except DomainError as exc:
            self._audit.record(who, action, broadcast_id, "denied", error=exc.key)
            raise
        self._audit.record(who, action, broadcast_id)

    def _release(self, broadcast_id: str, by: str, held_as: S, by_author: bool = False) -> None:
        """Schedule a held broadcast; a "now" one is timed from the release."""
        now = utcnow()
        with self._sessions.begin() as session:
            broadcast = self._get_row(session, broadcast_id, deliveries=False)
            if broadcast.state != held_as.value:
                raise Conflict("broadcast.not_held", state=broadcast.state)
            if broadcast.created_by == by and not by_author:
                raise NotAllowed("approval.same_person")
            late = broadcast.not_after - broadcast.start_at
            lead = self._lead(Priority(broadcast.priority))
            timing = self._timing(
                None if broadcast.start_on_release else broadcast.start_at,
                round(late.total_seconds()),
                lead,
            )
            if (
                broadcast.start_on_release
                and not broadcast.quiet_override
                and broadcast.priority != Priority.emergency.value
            ):  # (exempt: not read)
                # "now" is the release: an approval at 23:30 would start it in quiet hours
                self.check_quiet(
                    session,
                    [d.device_id for d in broadcast.deliveries],
                    timing.start_at,
                    Priority(broadcast.priority),
                )
            if not _claim(session, broadcast_id, held_as, S.scheduled):
                raise Conflict("broadcast.not_held", state=broadcast.state)
            broadcast.start_at, broadcast.send_at = timing.start_at, timing.send_at
            broadcast.not_after = timing.not_after
            broadcast.approved_by, broadcast.approved_at = by, now
            released = [(broadcast_id, timing.send_at)]
            if broadcast.repeat_every_s and broadcast.repeat_index == 0:
                every = timedelta(seconds=broadcast.repeat_every_s)
                for repetition in self._later_in_series(session, broadcast):
                    if repetition.state != held_as.value:
                        continue
                    at = self._timing(
                        timing.start_at + repetition.repeat_index * every,
                        round(late.total_seconds()),
                        lead,
                    )
                    if _claim(session, repetition.id, held_as, S.scheduled):
                        repetition.start_at, repetition.send_at = at.start_at, at.send_at
                        repetition.not_after = at.not_after
                        repetition.approved_by, repetition.approved_at = by, now
                        released.append((repetition.id, at.send_at))
        for released_id, send_at in released:
            self._released(released_id, send_at)

    def _released(self, broadcast_id: str, send_at: datetime) -> None:
        if not self._send_now(broadcast_id, send_at):
            self._jobs.at(send_at, f"send:{broadcast_id}", self.send, broadcast_id)
        self._announce(broadcast_id)
        if send_at > utcnow():  # starts later: it also travels in the plans
            self._plans_changed()

    def reject(self, broadcast_id: str, who: Principal, reason: str) -> None:
        """Refuse a held broadcast with a reason; nothing is sent."""
        if not reason.strip():
            raise Invalid("approvals.reason_required")
        now = utcnow()
        with self._sessions.begin() as session:
            broadcast = self._get_row(session, broadcast_id)
            if S(broadcast.state) not in S.held() or not can_move(S(broadcast.state), S.rejected):
                raise Conflict("broadcast.not_held", state=broadcast.state)
            series = [
                broadcast,
                *(
                    b
                    for b in self._later_in_series(session, broadcast)
                    if b.state == broadcast.state
                ),
            ]
            for one in series:
                one.state = S.rejected.value
                one.rejected_reason = reason
                one.approved_by, one.approved_at = who.username, now
                for delivery in one.deliveries:
                    delivery.state = DeliveryState.cancelled.value
                    delivery.reason = f"rejected: {reason}"
                    delivery.updated_at = now
        self._audit.record(who, "broadcast.reject", broadcast_id, reason=reason)

    @staticmethod
    def _store(session: Session, device_ids: list[str], broadcast: Broadcast) -> None:
        """The broadcast row and one pending delivery per device it reaches."""
        session.add(broadcast)
        for device_id in device_ids:
            session.add(
                Delivery(
                    broadcast_id=broadcast.id,
                    device_id=device_id,
                    state=DeliveryState.pending.value,
                    updated_at=broadcast.created_at,
                )
            )

    def create_occurrence(
        self,
        play_id: str,
        schedule: str,
        title: str,
        media_sha256: str,
        targets: list[str],
        start_at: datetime,
        priority: Priority,
    ) -> bool:
        """A schedule occurrence as a broadcast whose id is the plan's play id (created once).

        Returns False if it exists already (a restart, or the previous tick) or reaches nobody.
        """
        now = utcnow()
        max_late = timedelta(seconds=self.settings.default_max_late_s)
        send_at = max(now, start_at - timedelta(seconds=self.settings.prefetch_lead_s))
        with self._sessions.begin() as session:
            if session.get(Broadcast, play_id) is not None:
                return False
            device_ids = resolve_devices(session, targets)
            if not device_ids or session.get(Media, media_sha256) is None:
                return False
            self._store(
                session,
                device_ids,
                Broadcast(
                    id=play_id,
                    title=title,
                    media_sha256=media_sha256,
                    priority=priority.value,
                    targets=sorted(set(targets)),
                    start_at=start_at,
                    send_at=send_at,
                    not_after=start_at + max_late,
                    state=S.scheduled.value,
                    created_at=now,
                    schedule=schedule,
                ),
            )
        self._jobs.at(send_at, f"send:{play_id}", self.send, play_id)
        return True

    def create_stream(self, req: StreamRequest, who: Principal) -> str:
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
        hold = None if req.kind == "live" else _hold(who, priority)
        duration = req.duration_s or self.settings.live_max_s
        if not 1 <= duration <= self.settings.live_max_s:
            raise Invalid("live.duration", max_min=self.settings.live_max_s // 60)
        lead = timedelta(seconds=self.settings.live_lead_s)
        timing = self._timing(req.start_at, duration, lead)  # may join while it lasts
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
            self.check_quiet(session, device_ids, timing.start_at, priority)
            self._store(
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
                    ),
                    start_at=timing.start_at,
                    send_at=timing.send_at,
                    not_after=timing.not_after,
                    state=(hold or S.scheduled).value,
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
            self._released(broadcast_id, timing.send_at)
        self._changed()  # waiting for approval, or on air (the banner on every page)
        return broadcast_id

    def end_stream(self, broadcast_id: str, who: Principal | None) -> None:
        """A live broadcast (or a relay) is over: every device stops it and reports it played
        ("Kết thúc"), not interrupted."""
        now = utcnow()
        with self._sessions.begin() as session:
            broadcast = self._get_row(session, broadcast_id)
            if broadcast.stream is None:
                raise Conflict("live.not_a_stream")
            if broadcast.ended_at is not None or broadcast.state in (
                S.done.value,
                S.cancelled.value,
            ):
                return  # ended already (the browser said so twice, or its source went)
            if broadcast.state != S.sent.value:
                started = False
            else:
                started = True
                broadcast.ended_at = now
            targets = list(broadcast.targets)
        if not started:
            self.cancel(broadcast_id, who)
            return
        if who is not None:
            self._audit.record(who, "broadcast.end", broadcast_id)
        for target in targets:
            self._commands.send(
                target, CancelCommand(play_id=broadcast_id, ended=True), broadcast_id=broadcast_id
            )
        self._jobs.cancel(f"close:{broadcast_id}")
        self._jobs.at(
            now + timedelta(seconds=self.settings.missed_grace_s),
            f"close:{broadcast_id}",
            self.close,
            broadcast_id,
        )
        self._changed()

    def on_air(self) -> list[BroadcastOut]:
        """Live broadcasts that have not ended and still play somewhere, or are about to (the
        banner every page shows; one an emergency cut everywhere is on air no more)."""
        with self._sessions() as session:
            rows = session.scalars(
                select(Broadcast)
                .where(
                    Broadcast.priority == Priority.live.value,
                    Broadcast.ended_at.is_(None),
                    Broadcast.state.in_([S.scheduled.value, S.sending.value, S.sent.value]),
                )
                .order_by(Broadcast.start_at)
            )
            statuses = _statuses(session)
            return [
                broadcast_out(b, statuses)
                for b in rows
                if any(DeliveryState(d.state) not in TERMINAL for d in b.deliveries)
            ]

    # --- sending ---------------------------------------------------------------------------

    def send(self, broadcast_id: str) -> None:
        """Hand the signed play command for every target to the command path (once).

        Deliveries become ``sent`` as the broker takes each command (``_on_published``); if
        it is down the commands wait in the path and go out when it is back."""
        now = utcnow()
        with self._sessions.begin() as session:  # (its deliveries: thousands, not needed)
            broadcast = session.get(
                Broadcast, broadcast_id, options=[lazyload(Broadcast.deliveries)]
            )
            if broadcast is None or broadcast.state != S.scheduled.value:
                return
            if now > broadcast.not_after:
                self._close(session, broadcast, "controller was down or unreachable at send time")
                return
            if not _claim(session, broadcast_id, S.scheduled, S.sending):
                return
            play = PlayCommand(
                play_id=broadcast.id,
                broadcast_id=broadcast.id,
                title=one_line(broadcast.title),
                start_at=broadcast.start_at,
                priority=Priority(broadcast.priority),
                volume=broadcast.volume,
                **_playable(session, broadcast),
            )
            targets = list(broadcast.targets)
            not_after = broadcast.not_after
            close_at = self._close_time(broadcast)
        for target in targets:
            self._commands.send(target, play, not_after=not_after, broadcast_id=broadcast_id)
        with self._sessions.begin() as session:
            # conditional: a cancel that arrived meanwhile stays cancelled
            if _claim(session, broadcast_id, S.sending, S.sent):
                session.execute(
                    update(Broadcast).where(Broadcast.id == broadcast_id).values(sent_at=utcnow())
                )
        self._jobs.at(close_at, f"close:{broadcast_id}", self.close, broadcast_id)
        log.info("broadcast %s sent to %s", broadcast_id, ", ".join(targets))

    def _send_now(self, broadcast_id: str, send_at: datetime) -> bool:
        """Send a broadcast due now (an emergency's confirmation) from the releasing thread,
        before its answer is built, rather than after a hop to the scheduler's thread that
        would race that answer for the interpreter. False if it is not due or that failed."""
        if send_at > utcnow():
            return False
        try:
            self.send(broadcast_id)
        except Exception:
            log.exception(
                "broadcast %s: sending at release failed; the scheduler retries", broadcast_id
            )
            return False
        return True

    def _on_published(self, cmd: SentCommand) -> None:
        """The broker took a play: the devices of that target move pending → sent."""
        if cmd.kind != "play" or cmd.broadcast_id is None:
            return
        now = utcnow()
        with self._sessions.begin() as session:
            query = update(Delivery).where(
                Delivery.broadcast_id == cmd.broadcast_id,
                Delivery.state == DeliveryState.pending.value,
            )
            targets = session.scalar(
                select(Broadcast.targets).where(Broadcast.id == cmd.broadcast_id)
            )
            if cmd.target != "all" and targets != [cmd.target]:
                # one of several targets: only its devices (one target: all the deliveries,
                # without listing an emergency's thousands of devices)
                query = query.where(Delivery.device_id.in_(resolve_devices(session, [cmd.target])))
            session.execute(
                query.values(state=DeliveryState.sent.value, sent_at=now, updated_at=now)
            )

    def _close_time(self, broadcast: Broadcast) -> datetime:
        end = broadcast.start_at + timedelta(milliseconds=_duration_ms(broadcast))
        return max(broadcast.not_after, end) + timedelta(seconds=self.settings.missed_grace_s)

    # --- closing ---------------------------------------------------------------------------

    def close(self, broadcast_id: str) -> None:
        """After the play window: devices that never reported a start are 'missed'."""
        with self._sessions.begin() as session:
            broadcast = session.get(Broadcast, broadcast_id)
            if broadcast is None or broadcast.state not in (S.sent.value, S.scheduled.value):
                return
            self._close(session, broadcast, MISSED_REASON)
        self._changed()  # open pages show the missed loudspeakers at once

    def _close(self, session: Session, broadcast: Broadcast, reason: str) -> None:
        now = utcnow()
        for delivery in broadcast.deliveries:
            if DeliveryState(delivery.state) in TERMINAL:
                continue
            if delivery.state == DeliveryState.playing.value:
                continue  # its finished report is on the way
            delivery.state = DeliveryState.missed.value
            delivery.reason = reason
            delivery.updated_at = now
        broadcast.state = S.done.value

    # --- cancelling and STOP ---------------------------------------------------------------

    def cancel(self, broadcast_id: str, who: Principal | None = None) -> list[SentCommand]:
        """Cancel before it starts, or stop it while playing (devices report 'interrupted').

        A released broadcast is on the devices already (in their plans or as a command): each
        target gets a signed cancel as well as a plan without it. Returns the cancel commands;
        those the broker could not take yet are ``pending`` and go out as soon as it is back
        (until they expire)."""
        with self._sessions.begin() as session:
            broadcast = self._get_row(session, broadcast_id)
            later = [
                b.id
                for b in self._later_in_series(session, broadcast)
                if can_move(S(b.state), S.cancelled)
            ]
            # a repetition that already played can still stop the rest of its series
            itself = can_move(S(broadcast.state), S.cancelled)
            if not itself and not later:
                raise Conflict("broadcast.not_cancellable")
            # released: its play is on the devices (in their plans, or as a command)
            ahead = itself and S(broadcast.state) in S.awaiting_play()
            targets = list(broadcast.targets)
            now = utcnow()
            if itself:
                broadcast.state = S.cancelled.value
                broadcast.cancelled_at = now
                for delivery in broadcast.deliveries:
                    if (
                        DeliveryState(delivery.state) not in TERMINAL
                        and delivery.state != DeliveryState.playing.value
                    ):
                        delivery.state = DeliveryState.cancelled.value
                        delivery.updated_at = now
        if itself:
            self._jobs.cancel(f"send:{broadcast_id}")
            self._jobs.cancel(f"close:{broadcast_id}")
        if who is not None:
            self._audit.record(
                who, "broadcast.cancel", broadcast_id, **({"repetitions": later} if later else {})
            )
        cancelled_later = []
        for repetition_id in later:  # a series stops: the repetitions still to come go too
            try:
                cancelled_later += self.cancel(repetition_id)
            except Conflict:
                pass  # it started or ended meanwhile
        if not ahead:
            return cancelled_later
        self._plans_changed()  # gone from the device plans too
        sent = [
            self._commands.send(t, CancelCommand(play_id=broadcast_id), broadcast_id=broadcast_id)
            for t in targets
        ]
        for cmd in sent:
            if cmd.pending:
                log.warning("cancel of %s for %s waits for the broker", broadcast_id, cmd.target)
        return sent + cancelled_later

    def stop(self, targets: list[str], reason: str, who: Principal) -> StopOut:
        """Silence what plays now on the targets; plays scheduled for later stay scheduled."""
        targets = list(dict.fromkeys(targets))
        with self._sessions() as session:
            devices = resolve_devices(session, targets)
        if not devices:
            raise NotFound("broadcast.no_devices")
        reason = reason or who.username  # the loudspeakers' log says who, if not why
        sent = [self._commands.send(t, StopCommand(reason=one_line(reason))) for t in targets]
        log.warning("STOP sent to %s (%s)", ", ".join(targets), reason)
        self._audit.record(
            who,
            "broadcast.stop",
            ",".join(targets),
            reason=reason,
            pending=[c.target for c in sent if c.pending],
        )
        return StopOut(
            cmd_ids=[c.cmd_id for c in sent],
            devices=devices,
            pending=[c.target for c in sent if c.pending],
        )

    # --- reading ---------------------------------------------------------------------------

    @staticmethod
    def _get_row(session: Session, broadcast_id: str, deliveries: bool = True) -> Broadcast:
        """The broadcast; with its deliveries loaded at once unless ``deliveries`` is False
        (then read on first use, inside the session: an emergency has thousands)."""
        broadcast = session.get(
            Broadcast, broadcast_id, options=[] if deliveries else [lazyload(Broadcast.deliveries)]
        )
        if broadcast is None:
            raise NotFound("broadcast.not_found")
        return broadcast

    def resend_missed(self, broadcast_id: str, who: Principal) -> str:
        """ "Phát lại cho các thôn bị lỡ": the same audio, now, to exactly the loudspeakers
        that missed it, failed or were cut off (a broadcast of its own, approved as any)."""
        with self._sessions() as session:
            broadcast = self._get_row(session, broadcast_id)
            if broadcast.media_sha256 is None:
                raise Conflict("broadcast.resend_stream")  # a live voice is gone
            if broadcast.state != S.done.value:
                raise Conflict("broadcast.resend_not_over")
            again = sorted(
                d.device_id
                for d in broadcast.deliveries
                if outcome(d.state, d.line_check) in RESENDABLE
            )
            media, title = broadcast.media_sha256, broadcast.title
            priority, volume = Priority(broadcast.priority), broadcast.volume
        if not again:
            raise Conflict("broadcast.resend_none")
        new_id = self.create(
            BroadcastRequest(
                media_sha256=media,
                targets=[f"device:{d}" for d in again],
                priority=priority,
                title=one_line(f"{title} (phát lại)"),
                volume=volume,
            ),
            who,
        )
        self._audit.record(who, "broadcast.resend", new_id, of=broadcast_id, devices=again)
        return new_id

    def get(self, broadcast_id: str) -> BroadcastOut:
        """Where the broadcast stands on every device, with actual start times and skew."""
        with self._sessions() as session:
            broadcast = self._get_row(session, broadcast_id)
            out = broadcast_out(broadcast, _statuses(session))
        out.commands_pending = sorted(
            {c.target for c in self._commands.pending(broadcast_id=broadcast_id)}
        )
        return out

    def list(
        self,
        limit: int = 50,
        state: str | None = None,
        states: tuple[S, ...] = (),
        by_creation: bool = False,
    ) -> list[BroadcastOut]:
        """Newest first, by start time (or by creation), in ``state`` or one of ``states``."""
        order = Broadcast.created_at if by_creation else Broadcast.start_at
        with self._sessions() as session:
            query = select(Broadcast).order_by(order.desc()).limit(limit)
            if state:
                query = query.where(Broadcast.state == state)
            if states:
                query = query.where(Broadcast.state.in_([s.value for s in states]))
            statuses = _statuses(session)
            return [broadcast_out(b, statuses) for b in session.scalars(query)]

    def search(
        self,
        text: str = "",
        zone: str = "",
        state: str = "",
        priority: str = "",
        since: datetime | None = None,
        until: datetime | None = None,
        offset: int = 0,
        limit: int = 25,
    ) -> tuple[list[BroadcastOut], int]:
        """The history, newest first: title or id containing ``text``, for a village (its own
        or ``all``), in a state, of a priority, starting in [since, until); one page and the
        total."""
        query = select(Broadcast)
        if text:
            like = f"%{text.strip().lower()}%"
            query = query.where(
                or_(func.lower(Broadcast.title).like(like), func.lower(Broadcast.id).like(like))
            )
        if zone:
            as_text = cast(Broadcast.targets, String)
            query = query.where(or_(as_text.like(f'%"zone:{zone}"%'), as_text.like('%"all"%')))
        if state:
            query = query.where(Broadcast.state == state)
        if priority:
            query = query.where(Broadcast.priority == priority)
        if since is not None:
            query = query.where(Broadcast.start_at >= since)
        if until is not None:
            query = query.where(Broadcast.start_at < until)
        with self._sessions() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(
                query.order_by(Broadcast.start_at.desc(), Broadcast.id).offset(offset).limit(limit)
            )
            statuses = _statuses(session)
            return [broadcast_out(b, statuses) for b in rows], total

    def waiting_for_others(self, username: str) -> int:
        """Emergencies waiting for a second person that ``username`` did not send (each series
        once): a count for every page's header, so one query and no deliveries."""
        with self._sessions() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(Broadcast)
                    .where(
                        Broadcast.state == S.pending_confirmation.value,
                        Broadcast.created_by != username,
                        Broadcast.repeat_index == 0,
                    )
                )
                or 0
            )

    def titles(self, ids: set[str]) -> dict[str, str]:
        """broadcast id → title, for the ids that are broadcasts."""
        if not ids:
            return {}
        with self._sessions() as session:
            return dict(
                session.execute(
                    select(Broadcast.id, Broadcast.title).where(Broadcast.id.in_(ids))  # type: ignore[arg-type]
                ).all()
            )

    def events(
        self,
        type: str | None = None,
        device_id: str | None = None,
        play_id: str | None = None,
        limit: int = 200,
    ) -> list[DeviceEventOut]:
        """Everything agents reported, newest first: the playback log and security events."""
        with self._sessions() as session:
            query = select(DeviceEvent).order_by(DeviceEvent.ts.desc(), DeviceEvent.id.desc())
            if type:
                query = query.where(DeviceEvent.type == type)
            if device_id:
                query = query.where(DeviceEvent.device_id == device_id)
            if play_id:
                query = query.where(DeviceEvent.play_id == play_id)
            return [DeviceEventOut.model_validate(r) for r in session.scalars(query.limit(limit))]

    def now_playing(self) -> dict[str, str]:
        """device id → the title of what it plays now (its delivery says ``playing``)."""
        with self._sessions() as session:
            rows = session.execute(
                select(Delivery.device_id, Broadcast.title, Broadcast.id)
                .join(Broadcast, Broadcast.id == Delivery.broadcast_id)
                .where(Delivery.state == DeliveryState.playing.value)
            ).all()
        return {device: title or bid for device, title, bid in rows}

    def playback_log(self, device_id: str | None = None, limit: int = 200) -> list[DeviceEventOut]:
        """Proof of play: finished and failed playbacks, newest first."""
        with self._sessions() as session:
            query = (
                select(DeviceEvent)
                .where(DeviceEvent.type.in_(("playback.finished", "playback.failed")))
                .order_by(DeviceEvent.ts.desc())
            )
            if device_id:
                query = query.where(DeviceEvent.device_id == device_id)
            return [DeviceEventOut.model_validate(r) for r in session.scalars(query.limit(limit))]

    # --- restart ---------------------------------------------------------------------------

    def recover(self) -> None:
        """Rebuild jobs from the database after a (re)start or on taking the lead; nothing
        fires twice (``send`` claims a broadcast, and plays once per target)."""
        with self._sessions.begin() as session:
            # A send interrupted between claim and hand-over: send again. Targets already
            # sent are skipped (``CommandPath.send``); agents dedupe by play id besides.
            session.execute(
                update(Broadcast)
                .where(Broadcast.state == S.sending.value)
                .values(state=S.scheduled.value)
            )
            pending = list(
                session.scalars(
                    select(Broadcast.id).where(
                        Broadcast.state.in_((S.scheduled.value, S.sent.value))
                    )
                )
            )
        for broadcast_id in pending:
            self.schedule_jobs(broadcast_id)
        if pending:
            log.info("recovered %d pending broadcasts", len(pending))

    def schedule_jobs(self, broadcast_id: str) -> None:
        """The job a broadcast waits for here: its send if scheduled, its close if sent (a
        broadcast released by another controller is also scheduled on the leader)."""
        with self._sessions() as session:
            broadcast = session.get(Broadcast, broadcast_id)
            if broadcast is None:
                return
            state, send_at, close_at = (
                broadcast.state,
                broadcast.send_at,
                self._close_time(broadcast),
            )
        if state == S.scheduled.value:
            self._jobs.at(send_at, f"send:{broadcast_id}", self.send, broadcast_id)
        elif state == S.sent.value:
            self._jobs.at(close_at, f"close:{broadcast_id}", self.close, broadcast_id)


def _media_ref(media: Media) -> MediaRef:
    return MediaRef(
        sha256=media.sha256,
        url=f"/media/{media.sha256}",
        size=media.size,
        duration_ms=media.duration_ms,
        mime=media.mime,
    )


def _playable(session: Session, broadcast: Broadcast) -> dict[str, Any]:
    """What a play command carries: the stored media, or the stream (with its fallback)."""
    if broadcast.stream is not None:
        s = broadcast.stream
        fallback = session.get(Media, s["fallback_media"]) if s.get("fallback_media") else None
        return dict(
            stream=StreamRef(
                url=s["urls"][0],
                fallback_urls=list(s["urls"][1:]),
                duration_s=s["duration_s"],
                live=s["kind"] == "live",
                auth=bool(s.get("auth")),
                silence_s=s.get("silence_s"),
                fallback_media=_media_ref(fallback) if fallback else None,
            )
        )
    media = broadcast.media
    assert media is not None
    return dict(media=_media_ref(media))


def _duration_ms(broadcast: Broadcast) -> int:
    """The stored file's length; a stream's slot (a live one, until it ended)."""
    if broadcast.media is not None:
        return broadcast.media.duration_ms
    assert broadcast.stream is not None
    if broadcast.ended_at is not None:
        return max(0, round((broadcast.ended_at - broadcast.start_at).total_seconds() * 1000))
    return int(broadcast.stream["duration_s"]) * 1000


def _hold(who: Principal, priority: Priority) -> S | None:
    hold = hold_for(who.roles, priority == Priority.emergency)
    return S(hold) if hold else None


def _statuses(session: Session) -> dict[str, str]:
    return dict(session.execute(select(Device.id, Device.status)).all())  # type: ignore[arg-type]


def broadcast_out(broadcast: Broadcast, device_status: dict[str, str]) -> BroadcastOut:
    deliveries = []
    starts = []
    for d in broadcast.deliveries:
        out = DeliveryOut.model_validate(d)
        out.device_status = device_status.get(d.device_id)
        if d.started_at is not None:
            out.start_offset_ms = round((d.started_at - broadcast.start_at).total_seconds() * 1000)
            starts.append(d.started_at)
        deliveries.append(out)
    skew = round((max(starts) - min(starts)).total_seconds() * 1000) if len(starts) > 1 else None
    return BroadcastOut(
        id=broadcast.id,
        title=broadcast.title,
        media_sha256=broadcast.media_sha256,
        duration_ms=_duration_ms(broadcast),
        priority=broadcast.priority,
        stream=StreamOut(
            kind=broadcast.stream["kind"],
            urls=[without_credentials(u) for u in broadcast.stream["urls"]],
            source=broadcast.stream.get("source"),
            mount=broadcast.stream.get("mount"),
        )
        if broadcast.stream
        else None,
        ended_at=broadcast.ended_at,
        targets=list(broadcast.targets),
        state=broadcast.state,
        start_at=broadcast.start_at,
        start_on_release=bool(broadcast.start_on_release),
        send_at=broadcast.send_at,
        not_after=broadcast.not_after,
        created_at=broadcast.created_at,
        sent_at=broadcast.sent_at,
        created_by=broadcast.created_by,
        approved_by=broadcast.approved_by,
        approved_at=broadcast.approved_at,
        rejected_reason=broadcast.rejected_reason,
        schedule=broadcast.schedule,
        quiet_override=bool(broadcast.quiet_override),
        series_id=broadcast.series_id,
        repeat_index=broadcast.repeat_index or 0,
        summary=summarise([DeliveryState(d.state) for d in broadcast.deliveries]),
        start_skew_ms=skew,
        deliveries=deliveries,
    )
