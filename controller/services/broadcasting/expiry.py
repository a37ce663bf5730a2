"""Bulletins nobody approved in time: held past their start, they expire (said as such on
every page instead of waiting for good); their author or an approver gives them a new time
("hẹn lại"), which holds them again for the same people."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload, sessionmaker

from protocol.messages import Priority, utcnow

from ...auth import Principal, allowed
from ...db.models import Broadcast
from ...domain.broadcast import BroadcastState as S
from ...domain.broadcast import overdue
from ...domain.delivery import DeliveryState as D
from ...domain.errors import Conflict, Invalid, NotAllowed
from ..audit import AuditLog
from .records import claim, get_row, later_in_series
from .timing import BroadcastTimes

log = logging.getLogger(__name__)


NOT_APPROVED = "not approved before its start"
"""The reason its loudspeakers' plays were called off (``domain/outcome.py`` words it)."""


def expire(session: Session, broadcast: Broadcast) -> bool:
    """Move a held broadcast past its start to ``expired`` (with its held repetitions after
    it: a series is approved together, so it runs late together); its plays are called off.
    False if it was not held any more (approved or rejected meanwhile)."""
    if not claim(session, broadcast.id, S(broadcast.state), S.expired):
        return False
    series = [broadcast]
    for later in later_in_series(session, broadcast):
        if later.state in S.held() and claim(session, later.id, S(later.state), S.expired):
            series.append(later)
    now = utcnow()
    for one in series:
        for delivery in one.deliveries:
            delivery.state, delivery.reason, delivery.updated_at = D.cancelled, NOT_APPROVED, now
    return True


class HeldExpiry:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        times: BroadcastTimes,
        audit: AuditLog,
        changed: Callable[[], None] = lambda: None,
    ):
        self._sessions = sessions
        self._times = times
        self._audit = audit
        self._changed = changed

    def tick(self, now: datetime | None = None) -> list[str]:
        """The leader's periodic job: expire what waited past its start. Returns their ids."""
        now = now or utcnow()
        gone: list[str] = []
        with self._sessions.begin() as session:
            for broadcast in session.scalars(
                select(Broadcast)
                .where(
                    Broadcast.state.in_([s.value for s in S.held()]),
                    Broadcast.start_on_release.is_(False),
                    Broadcast.start_at <= now,
                )
                .options(lazyload(Broadcast.deliveries))
                .order_by(Broadcast.start_at)
            ):
                state = S(broadcast.state)
                if overdue(state, broadcast.start_on_release, broadcast.start_at, now) and expire(
                    session, broadcast
                ):
                    gone.append(broadcast.id)
        if gone:
            log.info("expired, not approved before their start: %s", ", ".join(gone))
            self._changed()
        return gone

    def reschedule(self, broadcast_id: str, start_at: datetime, who: Principal) -> None:
        """Give an expired broadcast (and its expired repetitions, shifted alike) a new start;
        it waits again for an approver (a second person for an emergency). Its author or an
        approver may."""
        zone = ZoneInfo(self._times.settings.timezone)
        if start_at.tzinfo is None:
            start_at = start_at.replace(tzinfo=zone)
        try:
            with self._sessions.begin() as session:
                broadcast = get_row(session, broadcast_id)
                if broadcast.state != S.expired:
                    raise Conflict("broadcast.not_expired", state=broadcast.state)
                if broadcast.created_by != who.username and not allowed(
                    who.roles, "broadcast.approve"
                ):
                    raise NotAllowed("broadcast.reschedule_not_yours")
                priority = Priority(broadcast.priority)
                late = round((broadcast.not_after - broadcast.start_at).total_seconds())
                lead = self._times.lead(priority)
                timing = self._times.window(start_at, late, lead)
                if not broadcast.quiet_override:
                    self._times.check_quiet(
                        session,
                        [d.device_id for d in broadcast.deliveries],
                        timing.start_at,
                        priority,
                    )
                hold = (
                    S.pending_confirmation if priority == Priority.emergency else S.pending_approval
                )
                shift = timing.start_at - broadcast.start_at
                series = [broadcast] + [
                    b for b in later_in_series(session, broadcast) if b.state == S.expired
                ]
                for one in series:
                    at = self._times.window(one.start_at + shift, late, lead)
                    if not claim(session, one.id, S.expired, hold):
                        raise Conflict("broadcast.not_expired", state=one.state)
                    one.start_at, one.send_at, one.not_after = at.start_at, at.send_at, at.not_after
                    one.approved_by, one.approved_at = None, None
                    for delivery in one.deliveries:  # (never sent: they start again)
                        delivery.state, delivery.reason = D.pending, None
                        delivery.updated_at = utcnow()
        except (Conflict, Invalid, NotAllowed) as exc:
            self._audit.record(who, "broadcast.reschedule", broadcast_id, "denied", error=exc.key)
            raise
        self._audit.record(
            who,
            "broadcast.reschedule",
            broadcast_id,
            start_at=timing.start_at.astimezone(zone).isoformat(timespec="minutes"),
        )
        self._changed()
