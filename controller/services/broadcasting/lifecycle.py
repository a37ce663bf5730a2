"""Broadcasts move through their life here: made (held for an approver, a second person, or
released at once), approved, confirmed, rejected, updated, cancelled, resent; schedule
occurrences made once; STOP. States and their moves are ``domain.broadcast``; every command
goes through ``fleet.commands.CommandPath``; sending and closing are ``sending.py``.

Each state change is a conditional UPDATE from the state it leaves, so two workers (or two
controllers on PostgreSQL) never both make it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import (
    CancelCommand,
    PrepareCommand,
    Priority,
    StopCommand,
    one_line,
    utcnow,
)

from ...auth import Principal
from ...db.models import Broadcast, Media
from ...domain.broadcast import BroadcastState as S
from ...domain.broadcast import can_move, overdue
from ...domain.delivery import TERMINAL, DeliveryState
from ...domain.errors import Conflict, DomainError, Invalid, NotAllowed, NotFound
from ...domain.outcome import RESENDABLE, outcome
from ...domain.repeats import repetition_starts
from ...fleet.commands import CommandPath, SentCommand
from ..audit import AuditLog
from ..views import StopOut
from .expiry import expire
from .records import (
    BroadcastRequest,
    claim,
    get_row,
    hold_of,
    later_in_series,
    media_ref,
    resolve_devices,
    store,
)
from .sending import BroadcastSender
from .timing import BroadcastTimes

if TYPE_CHECKING:  # (it reads the deliveries' devices through this package)
    from ..routing import LanguageRouting

log = logging.getLogger(__name__)


class BroadcastService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        commands: CommandPath,
        times: BroadcastTimes,
        sender: BroadcastSender,
        audit: AuditLog,
        plans_changed: Callable[[], None] = lambda: None,
        changed: Callable[[], None] = lambda: None,
    ):
        self.settings = times.settings
        self.times = times
        self.sender = sender
        self._sessions = sessions
        self._commands = commands
        self._audit = audit
        self._plans_changed = plans_changed  # a one-off ahead travels in the device plans
        self._changed = changed  # open pages show what waits for someone and what is on air
        self.routing: LanguageRouting | None = None  # each village its own language versions

    # --- making ----------------------------------------------------------------------------

    def create(self, req: BroadcastRequest, who: Principal, *, draft: bool = False) -> str:
        """Store a broadcast and its per-device deliveries. What it waits for follows from who
        sends it: a broadcaster's waits for an approver, every emergency for a second person,
        a draft for its author; otherwise it is scheduled at once."""
        hold = S.draft if draft else hold_of(who, req.priority)
        if req.priority == Priority.live:
            raise Invalid("live.file_not_live")  # live is a voice from the station (go_live)
        if not req.targets:
            raise Invalid("broadcast.no_targets")
        now = utcnow()
        lead = self.times.lead(req.priority)
        timing = self.times.window(req.start_at, req.max_late_s, lead)
        broadcast_id = "b-" + uuid.uuid4().hex[:12]
        targets = sorted(set(req.targets))
        variants = self._variants(req.media_sha256, targets)
        with self._sessions.begin() as session:
            media = session.get(Media, req.media_sha256)
            if media is None:
                raise NotFound("media.not_found")
            device_ids = resolve_devices(session, targets)
            if not device_ids:
                raise Invalid("broadcast.no_devices")
            if not req.quiet_override:
                self.times.check_quiet(session, device_ids, timing.start_at, req.priority)
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
                state=hold or S.scheduled,
                created_at=now,
                created_by=who.username,
                start_on_release=req.start_at is None,
                quiet_override=req.quiet_override,
                public=req.public,
                approved_by=None if hold else who.username,
                approved_at=None if hold else now,
            )
            store(session, device_ids, first, variants)
            repetitions = self._store_repetitions(session, req, first, device_ids, lead, variants)
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
            self.sender.released(broadcast_id, timing.send_at)
            for repetition_id, send_at in repetitions:
                self.sender.released(repetition_id, send_at)
        elif hold == S.pending_confirmation:
            self._prepare(broadcast_id)
        if hold is not None:
            self._changed()
        return broadcast_id

    def _variants(self, media_sha256: str, targets: list[str]) -> dict[str, str]:
        """device → the versions its villages hear, where not the whole bulletin."""
        if self.routing is None or targets == []:
            return {}
        return self.routing.per_device(media_sha256, targets)

    def _store_repetitions(
        self,
        session: Session,
        req: BroadcastRequest,
        first: Broadcast,
        device_ids: list[str],
        lead: timedelta,
        variants: dict[str, str],
    ) -> list[tuple[str, datetime]]:
        """The repetitions of a series, each a broadcast of its own (its own signed play and
        log rows), in the first's state; their times follow the first's release."""
        if req.repeat_count <= 1 or not req.repeat_every_s:
            return []
        media = session.get(Media, req.repeat_media_sha256 or first.media_sha256)
        if media is None:
            raise NotFound("media.not_found")
        if media.sha256 != first.media_sha256:  # its own versions (the issue time restated)
            variants = self._variants(media.sha256, first.targets)
        every = timedelta(seconds=req.repeat_every_s)
        first.series_id, first.repeat_every_s = first.id, req.repeat_every_s
        out = []
        starts = repetition_starts(first.start_at, every, req.repeat_count)
        for k, start in enumerate(starts[1:], 1):
            if not req.quiet_override:
                self.times.check_quiet(session, device_ids, start, req.priority)
            timing = self.times.window(start, req.max_late_s, lead)
            store(
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
                    public=first.public,
                    approved_by=first.approved_by,
                    approved_at=first.approved_at,
                    series_id=first.id,
                    repeat_index=k,
                    repeat_every_s=req.repeat_every_s,
                ),
                variants,
            )
            out.append((f"{first.id}-r{k}", timing.send_at))
        return out

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
            store(
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
                    state=S.scheduled,
                    created_at=now,
                    schedule=schedule,
                ),
            )
        self.sender.send_at(play_id, send_at)
        return True

    def update_series(self, broadcast_id: str, media_sha256: str, who: Principal) -> list[str]:
        """A new message for the repetitions still to come (not yet sent); returns their ids."""
        now = utcnow()
        with self._sessions.begin() as session:
            broadcast = get_row(session, broadcast_id)
            if session.get(Media, media_sha256) is None:
                raise NotFound("media.not_found")
            waiting = {S.scheduled, *S.held(), S.draft}
            changed = [
                b
                for b in [broadcast, *later_in_series(session, broadcast)]
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
            broadcast = get_row(session, broadcast_id)
            assert broadcast.media is not None
            prepare = PrepareCommand(play_id=broadcast.id, media=media_ref(broadcast.media))
            targets = list(broadcast.targets)
        for target in targets:
            self._commands.send(target, prepare, broadcast_id=broadcast_id)

    # --- holding and releasing -------------------------------------------------------------

    def submit(self, broadcast_id: str, who: Principal) -> None:
        """Its author sends a draft on, as if created now: to an approver, to a second person
        (an emergency), or straight out (an approver's or admin's own)."""
        try:
            with self._sessions.begin() as session:
                broadcast = get_row(session, broadcast_id)
                if broadcast.created_by != who.username:
                    raise NotAllowed("broadcast.not_yours")
                if broadcast.state != S.draft:
                    raise Conflict("broadcast.not_draft", state=broadcast.state)
                hold = hold_of(who, Priority(broadcast.priority))
                if hold is not None and not claim(session, broadcast_id, S.draft, hold):
                    raise Conflict("broadcast.not_draft", state=broadcast.state)
                if hold is not None:
                    for repetition in later_in_series(session, broadcast):
                        claim(session, repetition.id, S.draft, hold)
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

    def release_held(self, broadcast_id: str, who: Principal) -> None:
        """Release a broadcast held for an approver or a second person, whichever it waits for
        (a CAP feed trusted to release its own)."""
        state = self.state_of(broadcast_id)
        if state == S.pending_confirmation:
            self.confirm(broadcast_id, who)
        elif state == S.pending_approval:
            self.approve(broadcast_id, who)

    def state_of(self, broadcast_id: str) -> S:
        with self._sessions() as session:
            return get_row(session, broadcast_id, deliveries=False).state

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
            broadcast = get_row(session, broadcast_id, deliveries=False)
            if broadcast.state == S.expired:  # (the tick came first: the same words)
                raise Conflict("broadcast.expired_on_release")
            if broadcast.state != held_as:
                raise Conflict("broadcast.not_held", state=broadcast.state)
            if broadcast.created_by == by and not by_author:
                raise NotAllowed("approval.same_person")
            if overdue(held_as, broadcast.start_on_release, broadcast.start_at, now):
                expired = expire(session, broadcast)  # said now, not at the next tick
            else:
                expired = False
        if expired:
            self._changed()
            raise Conflict("broadcast.expired_on_release")
        with self._sessions.begin() as session:
            broadcast = get_row(session, broadcast_id, deliveries=False)
            if broadcast.state != held_as:
                raise Conflict("broadcast.not_held", state=broadcast.state)
            late = broadcast.not_after - broadcast.start_at
            lead = self.times.lead(Priority(broadcast.priority))
            timing = self.times.window(
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
                self.times.check_quiet(
                    session,
                    [d.device_id for d in broadcast.deliveries],
                    timing.start_at,
                    Priority(broadcast.priority),
                )
            if not claim(session, broadcast_id, held_as, S.scheduled):
                raise Conflict("broadcast.not_held", state=broadcast.state)
            broadcast.start_at, broadcast.send_at = timing.start_at, timing.send_at
            broadcast.not_after = timing.not_after
            broadcast.approved_by, broadcast.approved_at = by, now
            released = [(broadcast_id, timing.send_at)]
            if broadcast.repeat_every_s and broadcast.repeat_index == 0:
                every = timedelta(seconds=broadcast.repeat_every_s)
                for repetition in later_in_series(session, broadcast):
                    if repetition.state != held_as:
                        continue
                    at = self.times.window(
                        timing.start_at + repetition.repeat_index * every,
                        round(late.total_seconds()),
                        lead,
                    )
                    if claim(session, repetition.id, held_as, S.scheduled):
                        repetition.start_at, repetition.send_at = at.start_at, at.send_at
                        repetition.not_after = at.not_after
                        repetition.approved_by, repetition.approved_at = by, now
                        released.append((repetition.id, at.send_at))
        for released_id, send_at in released:
            self.sender.released(released_id, send_at)

    def reject(self, broadcast_id: str, who: Principal, reason: str) -> None:
        """Refuse a held broadcast with a reason; nothing is sent."""
        if not reason.strip():
            raise Invalid("approvals.reason_required")
        now = utcnow()
        with self._sessions.begin() as session:
            broadcast = get_row(session, broadcast_id)
            if broadcast.state not in S.held() or not can_move(broadcast.state, S.rejected):
                raise Conflict("broadcast.not_held", state=broadcast.state)
            series = [
                broadcast,
                *(b for b in later_in_series(session, broadcast) if b.state == broadcast.state),
            ]
            for one in series:
                one.state = S.rejected
                one.rejected_reason = reason
                one.approved_by, one.approved_at = who.username, now
                for delivery in one.deliveries:
                    delivery.state = DeliveryState.cancelled
                    delivery.reason = f"rejected: {reason}"
                    delivery.updated_at = now
        self._audit.record(who, "broadcast.reject", broadcast_id, reason=reason)

    # --- cancelling, STOP, again -----------------------------------------------------------

    def cancel(self, broadcast_id: str, who: Principal | None = None) -> list[SentCommand]:
        """Cancel before it starts, or stop it while playing (devices report 'interrupted').

        A released broadcast is on the devices already (in their plans or as a command): each
        target gets a signed cancel as well as a plan without it. Returns the cancel commands;
        those the broker could not take yet are ``pending`` and go out as soon as it is back
        (until they expire)."""
        with self._sessions.begin() as session:
            broadcast = get_row(session, broadcast_id)
            later = [
                b.id for b in later_in_series(session, broadcast) if can_move(b.state, S.cancelled)
            ]
            # a repetition that already played can still stop the rest of its series
            itself = can_move(broadcast.state, S.cancelled)
            if not itself and not later:
                raise Conflict("broadcast.not_cancellable")
            # released: its play is on the devices (in their plans, or as a command)
            ahead = itself and broadcast.state in S.awaiting_play()
            targets = list(broadcast.targets)
            now = utcnow()
            if itself:
                broadcast.state = S.cancelled
                broadcast.cancelled_at = now
                for delivery in broadcast.deliveries:
                    if delivery.state not in TERMINAL and delivery.state != DeliveryState.playing:
                        delivery.state = DeliveryState.cancelled
                        delivery.updated_at = now
        if itself:
            self.sender.forget(broadcast_id)
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

    def resend_missed(self, broadcast_id: str, who: Principal) -> str:
        """ "Phát lại cho các thôn bị lỡ": the same audio, now, to exactly the loudspeakers
        that missed it, failed or were cut off (a broadcast of its own, approved as any)."""
        with self._sessions() as session:
            broadcast = get_row(session, broadcast_id)
            if broadcast.media_sha256 is None:
                raise Conflict("broadcast.resend_stream")  # a live voice is gone
            if broadcast.state != S.done:
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
