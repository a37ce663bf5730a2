"""A released broadcast on its way: its signed play handed to the command path at its send time,
its deliveries moved to ``sent`` as the broker takes each target's command, closed after its
play window (who never started is ``missed``), and its jobs rebuilt after a restart."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from msgspec.structs import replace
from sqlalchemy import select, update
from sqlalchemy.orm import Session, lazyload, sessionmaker

from protocol.messages import PlayCommand, Priority, one_line, utcnow

from ...db.models import Broadcast, Delivery
from ...domain.broadcast import BroadcastState as S
from ...domain.delivery import TERMINAL, DeliveryState
from ...fleet.commands import CommandPath, SentCommand
from ...jobs import Jobs
from ...settings import Settings
from ..devices import offline_since
from ..station import read as station_settings
from .records import (
    MISSED_REASON,
    claim,
    duration_ms,
    media_ref,
    playable,
    resolve_devices,
    variants_of,
)

log = logging.getLogger(__name__)


class BroadcastSender:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        commands: CommandPath,
        jobs: Jobs,
        plans_changed: Callable[[], None] = lambda: None,
        changed: Callable[[], None] = lambda: None,
        announce: Callable[[str], None] = lambda _id: None,
    ):
        self.settings = settings
        self._sessions = sessions
        self._commands = commands
        self._jobs = jobs
        self._plans_changed = plans_changed  # a one-off ahead travels in the device plans
        self._changed = changed  # open pages show the missed loudspeakers at once
        self._announce = announce  # tell the leading controller (it sends if this one dies)
        commands.listeners.append(self._on_published)

    def released(self, broadcast_id: str, send_at: datetime) -> None:
        """A broadcast just released: sent now if due (from this thread), else at its time;
        the leader hears of it; one that starts later travels in the plans too."""
        if not self._send_now(broadcast_id, send_at):
            self._jobs.at(send_at, f"send:{broadcast_id}", self.send, broadcast_id)
        self._announce(broadcast_id)
        if send_at > utcnow():
            self._plans_changed()

    def send_at(self, broadcast_id: str, send_at: datetime) -> None:
        """Its send job, at ``send_at`` (a schedule's occurrence)."""
        self._jobs.at(send_at, f"send:{broadcast_id}", self.send, broadcast_id)

    def send(self, broadcast_id: str) -> None:
        """Hand the signed play command for every target to the command path (once).

        Deliveries become ``sent`` as the broker takes each command (``_on_published``); if
        it is down the commands wait in the path and go out when it is back."""
        now = utcnow()
        with self._sessions.begin() as session:  # (its deliveries: thousands, not needed)
            broadcast = session.get(
                Broadcast, broadcast_id, options=[lazyload(Broadcast.deliveries)]
            )
            if broadcast is None or broadcast.state != S.scheduled:
                return
            if now > broadcast.not_after:
                close_row(broadcast, "controller was down or unreachable at send time")
                return
            if not claim(session, broadcast_id, S.scheduled, S.sending):
                return
            play = PlayCommand(
                play_id=broadcast.id,
                broadcast_id=broadcast.id,
                title=one_line(broadcast.title),
                start_at=broadcast.start_at,
                priority=Priority(broadcast.priority),
                volume=broadcast.volume,
                # a home receiver's least volume for an emergency (the station's setting)
                receiver_floor=station_settings(session).receiver_floor
                if broadcast.priority == Priority.emergency.value
                else None,
                **playable(session, broadcast),
            )
            sends = [(target, play) for target in broadcast.targets]
            routed = variants_of(session, broadcast_id)
            if routed:  # language versions by village: each device its own play
                sends = [
                    (f"device:{device_id}", replace(play, media=media_ref(media)))
                    if media is not None
                    else (f"device:{device_id}", play)
                    for device_id, media in routed
                ]
            not_after = broadcast.not_after
            close_at = self.close_time(broadcast)
        for target, command in sends:
            self._commands.send(target, command, not_after=not_after, broadcast_id=broadcast_id)
        with self._sessions.begin() as session:
            # conditional: a cancel that arrived meanwhile stays cancelled
            if claim(session, broadcast_id, S.sending, S.sent):
                session.execute(
                    update(Broadcast).where(Broadcast.id == broadcast_id).values(sent_at=utcnow())
                )
        self._jobs.at(close_at, f"close:{broadcast_id}", self.close, broadcast_id)
        log.info("broadcast %s sent to %s", broadcast_id, ", ".join(t for t, _ in sends))

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
                Delivery.state == DeliveryState.pending,
            )
            targets = session.scalar(
                select(Broadcast.targets).where(Broadcast.id == cmd.broadcast_id)
            )
            if cmd.target != "all" and targets != [cmd.target]:
                # one of several targets: only its devices (one target: all the deliveries,
                # without listing an emergency's thousands of devices)
                query = query.where(Delivery.device_id.in_(resolve_devices(session, [cmd.target])))
            session.execute(query.values(state=DeliveryState.sent, sent_at=now, updated_at=now))

    def close_time(self, broadcast: Broadcast) -> datetime:
        end = broadcast.start_at + timedelta(milliseconds=duration_ms(broadcast))
        return max(broadcast.not_after, end) + timedelta(seconds=self.settings.missed_grace_s)

    def close(self, broadcast_id: str) -> None:
        """After the play window: devices that never reported a start are 'missed'."""
        with self._sessions.begin() as session:
            broadcast = session.get(Broadcast, broadcast_id)
            if broadcast is None or broadcast.state not in (S.sent, S.scheduled):
                return
            close_row(broadcast, MISSED_REASON, offline_since(session))
        self._changed()

    def close_later(self, broadcast_id: str, at: datetime) -> None:
        """Its close job moved to ``at`` (a live voice ended: its devices stop now)."""
        self._jobs.cancel(f"close:{broadcast_id}")
        self._jobs.at(at, f"close:{broadcast_id}", self.close, broadcast_id)

    def forget(self, broadcast_id: str) -> None:
        """No send and no close any more (cancelled)."""
        self._jobs.cancel(f"send:{broadcast_id}")
        self._jobs.cancel(f"close:{broadcast_id}")

    # --- restart ---------------------------------------------------------------------------

    def recover(self) -> None:
        """Rebuild jobs from the database after a (re)start or on taking the lead; nothing
        fires twice (``send`` claims a broadcast, and plays once per target)."""
        with self._sessions.begin() as session:
            # A send interrupted between claim and hand-over: send again. Targets already
            # sent are skipped (``CommandPath.send``); agents dedupe by play id besides.
            session.execute(
                update(Broadcast).where(Broadcast.state == S.sending).values(state=S.scheduled)
            )
            pending = list(
                session.scalars(
                    select(Broadcast.id).where(Broadcast.state.in_((S.scheduled, S.sent)))
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
                self.close_time(broadcast),
            )
        if state == S.scheduled:
            self._jobs.at(send_at, f"send:{broadcast_id}", self.send, broadcast_id)
        elif state == S.sent:
            self._jobs.at(close_at, f"close:{broadcast_id}", self.close, broadcast_id)


def close_row(
    broadcast: Broadcast, reason: str, offline: dict[str, datetime | None] | None = None
) -> None:
    """Over: every delivery that never started is ``missed`` for ``reason`` — or, for a
    loudspeaker the controller knows is offline, for that (one playing keeps its state: its
    finished report is on the way)."""
    now = utcnow()
    offline = offline or {}
    for delivery in broadcast.deliveries:
        if DeliveryState(delivery.state) in TERMINAL or delivery.state == DeliveryState.playing:
            continue
        delivery.state = DeliveryState.missed
        if delivery.device_id in offline:
            since = offline[delivery.device_id]
            delivery.reason = (
                f"device offline since {since.isoformat()}" if since else "device never connected"
            )
        else:
            delivery.reason = reason
        delivery.updated_at = now
    broadcast.state = S.done
