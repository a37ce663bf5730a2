"""Broadcasts as the pages, the API and the CLI read them: one with every device's delivery,
lists, the searchable history, what is on air, what waits for someone, the playback log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import Priority
from protocol.urls import without_credentials

from ...db.models import Broadcast, Delivery, Device, DeviceEvent
from ...domain.broadcast import BroadcastState as S
from ...domain.delivery import TERMINAL, DeliveryState, summarise
from ...domain.outcome import outcome
from ...domain.outcome import summarise as summarise_outcomes
from ...domain.text import fold
from ...fleet.commands import CommandPath
from ..views import BroadcastOut, DeliveryOut, DeviceEventOut, StreamOut
from .records import duration_ms, get_row

PLAYBACK_TYPES = ("playback.finished", "playback.failed")


class BroadcastQueries:
    def __init__(self, sessions: sessionmaker[Session], commands: CommandPath):
        self._sessions = sessions
        self._commands = commands

    def get(self, broadcast_id: str) -> BroadcastOut:
        """Where the broadcast stands on every device, with actual start times and skew."""
        with self._sessions() as session:
            broadcast = get_row(session, broadcast_id)
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
                query = query.where(Broadcast.state == S(state))
            if states:
                query = query.where(Broadcast.state.in_(states))
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
            like = f"%{fold(text.strip())}%"  # as typed on a phone: accents or none
            query = query.where(
                or_(Broadcast.title_folded.like(like), func.lower(Broadcast.id).like(like))
            )
        if zone:
            as_text = cast(Broadcast.targets, String)
            query = query.where(or_(as_text.like(f'%"zone:{zone}"%'), as_text.like('%"all"%')))
        if state:
            query = query.where(Broadcast.state == S(state))
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

    def on_air(self) -> list[BroadcastOut]:
        """Live broadcasts that have not ended and still play somewhere, or are about to (the
        banner every page shows; one an emergency cut everywhere is on air no more)."""
        with self._sessions() as session:
            rows = session.scalars(
                select(Broadcast)
                .where(
                    Broadcast.priority == Priority.live.value,
                    Broadcast.ended_at.is_(None),
                    Broadcast.state.in_(S.awaiting_play()),
                )
                .order_by(Broadcast.start_at)
            )
            statuses = _statuses(session)
            return [
                broadcast_out(b, statuses)
                for b in rows
                if any(d.state not in TERMINAL for d in b.deliveries)
            ]

    def waiting_for_others(self, username: str) -> int:
        """Emergencies waiting for a second person that ``username`` did not send (each series
        once): a count for every page's header, so one query and no deliveries."""
        with self._sessions() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(Broadcast)
                    .where(
                        Broadcast.state == S.pending_confirmation,
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
                .where(Delivery.state == DeliveryState.playing)
            ).all()
        return {device: title or bid for device, title, bid in rows}

    def playback_log(self, device_id: str | None = None, limit: int = 200) -> list[DeviceEventOut]:
        """Proof of play: finished and failed playbacks, newest first."""
        with self._sessions() as session:
            query = (
                select(DeviceEvent)
                .where(DeviceEvent.type.in_(PLAYBACK_TYPES))
                .order_by(DeviceEvent.ts.desc())
            )
            if device_id:
                query = query.where(DeviceEvent.device_id == device_id)
            return [DeviceEventOut.model_validate(r) for r in session.scalars(query.limit(limit))]


def _statuses(session: Session) -> dict[str, str]:
    return dict(session.execute(select(Device.id, Device.status)).all())  # type: ignore[arg-type]


def broadcast_out(broadcast: Broadcast, device_status: dict[str, str]) -> BroadcastOut:
    """A broadcast with every device's delivery, start offsets and skew."""
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
    states = [DeliveryState(d.state) for d in broadcast.deliveries]
    return BroadcastOut(
        id=broadcast.id,
        title=broadcast.title,
        media_sha256=broadcast.media_sha256,
        duration_ms=duration_ms(broadcast),
        priority=broadcast.priority,
        stream=StreamOut(
            kind=broadcast.stream["kind"],
            urls=[without_credentials(u) for u in broadcast.stream["urls"]],
            source=broadcast.stream.get("source"),
            mount=broadcast.stream.get("mount"),
            station_url=broadcast.stream.get("station_url"),
            delay_ms=broadcast.stream.get("delay_ms"),
        )
        if broadcast.stream
        else None,
        ended_at=broadcast.ended_at,
        targets=list(broadcast.targets),
        state=broadcast.state,
        settled=all(s in TERMINAL for s in states),
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
        summary=summarise(states),
        outcomes=summarise_outcomes(outcome(d.state, d.line_check) for d in broadcast.deliveries),
        start_skew_ms=skew,
        deliveries=deliveries,
    )
