"""Broadcast service: create, send, cancel and close broadcasts; recover them after a restart.

State of a broadcast: scheduled → sending → sent → done, or cancelled. Each transition is a
conditional UPDATE, so two workers (or two controllers on PostgreSQL) never send twice.
Held broadcasts come first: draft (until its author submits it), pending_approval (a
broadcaster's, until an approver releases it) or pending_confirmation (every emergency, until a
second person confirms it); or rejected.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import CancelCommand, MediaRef, PlayCommand, Priority, utcnow

from .db.models import Broadcast, Delivery, Device, DeviceZone, Media, Zone
from .domain.delivery import TERMINAL, DeliveryState
from .domain.timing import TimingError, plan_timing
from .errors import ApiError
from .fleet.commands import CommandSigner
from .fleet.gateway import MqttGateway, NotConnected
from .scheduler import Scheduler
from .settings import Settings

log = logging.getLogger(__name__)

SEND_RETRY_S = 2.0


@dataclass(frozen=True)
class BroadcastRequest:
    media_sha256: str
    targets: list[str]
    start_at: datetime | None = None
    priority: Priority = Priority.normal
    title: str = ""
    max_late_s: int | None = None
    volume: int | None = None
    created_by: str = "system"
    hold: str | None = None  # draft | pending_approval | pending_confirmation; None: send


HELD = ("pending_approval", "pending_confirmation")


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
                raise ApiError(404, "zone.not_found", id=ident)
            ids.update(session.scalars(
                select(Device.id).join(DeviceZone, DeviceZone.device_id == Device.id)
                .where(DeviceZone.zone_id == ident, Device.retired.is_(False))))
        elif kind == "device":
            device = session.get(Device, ident)
            if device is None or device.retired:
                raise ApiError(404, "device.not_found", id=ident)
            ids.add(ident)
    return sorted(ids)


class BroadcastService:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session], signer: CommandSigner,
                 gateway: MqttGateway, scheduler: Scheduler):
        self.settings = settings
        self._sessions = sessions
        self._signer = signer
        self._gateway = gateway
        self._scheduler = scheduler

    # --- creating --------------------------------------------------------------------------

    def _timing(self, start_at: datetime | None, max_late_s: int | None):  # type: ignore[no-untyped-def]
        max_late = max_late_s if max_late_s is not None else self.settings.default_max_late_s
        try:
            return plan_timing(
                now=utcnow(), requested_start=start_at,
                sync_lead=timedelta(seconds=self.settings.sync_lead_s),
                prefetch_lead=timedelta(seconds=self.settings.prefetch_lead_s),
                max_late=timedelta(seconds=max_late))
        except TimingError:
            raise ApiError(422, "broadcast.past_time") from None

    def create(self, req: BroadcastRequest) -> str:
        """Store a broadcast and its per-device deliveries; schedule its send unless held."""
        if not req.targets:
            raise ApiError(422, "broadcast.no_targets")
        now = utcnow()
        timing = self._timing(req.start_at, req.max_late_s)
        broadcast_id = "b-" + uuid.uuid4().hex[:12]
        with self._sessions.begin() as session:
            media = session.get(Media, req.media_sha256)
            if media is None:
                raise ApiError(404, "media.not_found")
            device_ids = resolve_devices(session, sorted(set(req.targets)))
            if not device_ids:
                raise ApiError(422, "broadcast.no_devices")
            self._store(session, device_ids, Broadcast(
                id=broadcast_id, title=req.title or media.title, media_sha256=media.sha256,
                priority=req.priority.value, targets=sorted(set(req.targets)), volume=req.volume,
                start_at=timing.start_at, send_at=timing.send_at, not_after=timing.not_after,
                state=req.hold or "scheduled", created_at=now, created_by=req.created_by,
                start_on_release=req.start_at is None,
                approved_by=None if req.hold else req.created_by,
                approved_at=None if req.hold else now))
        if req.hold is None:
            self._scheduler.at(timing.send_at, f"send:{broadcast_id}", self.send, broadcast_id)
        return broadcast_id

    def submit(self, broadcast_id: str, by: str, hold: str | None) -> None:
        """Its author sends a draft on: to wait as ``hold`` (for an approver or a second
        person), or, with no hold, scheduled at once (timed as if created now)."""
        with self._sessions.begin() as session:
            broadcast = session.get(Broadcast, broadcast_id)
            if broadcast is None:
                raise ApiError(404, "broadcast.not_found")
            if broadcast.created_by != by:
                raise ApiError(403, "broadcast.not_yours")
            if broadcast.state != "draft":
                raise ApiError(409, "broadcast.not_draft", state=broadcast.state)
            if hold is not None:
                if not self._claim(session, broadcast_id, "draft", hold):
                    raise ApiError(409, "broadcast.not_draft", state=broadcast.state)
                return
        self.release(broadcast_id, by, "draft", by_author=True)

    def release(self, broadcast_id: str, by: str, held_as: str, by_author: bool = False
                ) -> None:
        """An approver approves (``pending_approval``) or a second person confirms an emergency
        (``pending_confirmation``): schedule it. Its creator cannot be that second person
        (``by_author`` only for a draft its author may send straight out)."""
        now = utcnow()
        with self._sessions.begin() as session:
            broadcast = session.get(Broadcast, broadcast_id)
            if broadcast is None:
                raise ApiError(404, "broadcast.not_found")
            if broadcast.state != held_as:
                raise ApiError(409, "broadcast.not_held", state=broadcast.state)
            if broadcast.created_by == by and not by_author:
                raise ApiError(403, "approval.same_person")
            late = broadcast.not_after - broadcast.start_at
            timing = self._timing(None if broadcast.start_on_release else broadcast.start_at,
                                  round(late.total_seconds()))
            if not self._claim(session, broadcast_id, held_as, "scheduled"):
                raise ApiError(409, "broadcast.not_held", state=broadcast.state)
            broadcast.start_at, broadcast.send_at = timing.start_at, timing.send_at
            broadcast.not_after = timing.not_after
            broadcast.approved_by, broadcast.approved_at = by, now
        self._scheduler.at(timing.send_at, f"send:{broadcast_id}", self.send, broadcast_id)

    def reject(self, broadcast_id: str, by: str, reason: str) -> None:
        """Refuse a held broadcast with a reason; nothing is sent."""
        now = utcnow()
        with self._sessions.begin() as session:
            broadcast = session.get(Broadcast, broadcast_id)
            if broadcast is None:
                raise ApiError(404, "broadcast.not_found")
            if broadcast.state not in HELD:
                raise ApiError(409, "broadcast.not_held", state=broadcast.state)
            broadcast.state = "rejected"
            broadcast.rejected_reason = reason
            broadcast.approved_by, broadcast.approved_at = by, now
            for delivery in broadcast.deliveries:
                delivery.state = DeliveryState.cancelled.value
                delivery.reason = f"rejected: {reason}"
                delivery.updated_at = now

    @staticmethod
    def _store(session: Session, device_ids: list[str], broadcast: Broadcast) -> None:
        """The broadcast row and one pending delivery per device it reaches."""
        session.add(broadcast)
        for device_id in device_ids:
            session.add(Delivery(broadcast_id=broadcast.id, device_id=device_id,
                                 state=DeliveryState.pending.value,
                                 updated_at=broadcast.created_at))

    def create_occurrence(self, play_id: str, schedule: str, title: str, media_sha256: str,
                          targets: list[str], start_at: datetime, priority: Priority) -> bool:
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
            self._store(session, device_ids, Broadcast(
                id=play_id, title=title, media_sha256=media_sha256, priority=priority.value,
                targets=sorted(set(targets)), start_at=start_at, send_at=send_at,
                not_after=start_at + max_late, state="scheduled", created_at=now,
                schedule=schedule))
        self._scheduler.at(send_at, f"send:{play_id}", self.send, play_id)
        return True

    # --- sending ---------------------------------------------------------------------------

    def _claim(self, session: Session, broadcast_id: str, source: str, dest: str) -> bool:
        result = session.execute(
            update(Broadcast).where(Broadcast.id == broadcast_id, Broadcast.state == source)
            .values(state=dest))
        return result.rowcount == 1  # type: ignore[attr-defined]

    def send(self, broadcast_id: str) -> None:
        """Publish the signed play command to every target of the broadcast (once)."""
        now = utcnow()
        with self._sessions.begin() as session:
            broadcast = session.get(Broadcast, broadcast_id)
            if broadcast is None or broadcast.state != "scheduled":
                return
            if now > broadcast.not_after:
                self._close(session, broadcast, "controller was down or unreachable at send time")
                return
            if not self._gateway.connected.is_set():
                log.warning("broker unreachable; retrying %s", broadcast_id)
                self._retry_send(broadcast_id)
                return
            if not self._claim(session, broadcast_id, "scheduled", "sending"):
                return
            media = broadcast.media
            play = PlayCommand(
                play_id=broadcast.id, broadcast_id=broadcast.id, title=broadcast.title,
                start_at=broadcast.start_at, priority=Priority(broadcast.priority),
                volume=broadcast.volume,
                media=MediaRef(sha256=media.sha256, url=f"/media/{media.sha256}", size=media.size,
                               duration_ms=media.duration_ms, mime=media.mime))
            targets = list(broadcast.targets)
            not_after = broadcast.not_after
        try:
            commands = [self._signer.issue(t, play, not_after, broadcast_id) for t in targets]
            for cmd in commands:
                self._gateway.publish(cmd.topic, cmd.data, qos=1)
        except NotConnected:
            log.warning("publish failed; retrying %s", broadcast_id)
            with self._sessions.begin() as session:
                self._claim(session, broadcast_id, "sending", "scheduled")
            self._retry_send(broadcast_id)
            return
        sent_at = utcnow()
        with self._sessions.begin() as session:
            # conditional: a cancel that arrived while publishing stays cancelled
            session.execute(update(Broadcast).where(Broadcast.id == broadcast_id,
                                                    Broadcast.state == "sending")
                            .values(state="sent", sent_at=sent_at))
            session.execute(
                update(Delivery)
                .where(Delivery.broadcast_id == broadcast_id,
                       Delivery.state == DeliveryState.pending.value)
                .values(state=DeliveryState.sent.value, sent_at=sent_at, updated_at=sent_at))
            broadcast = session.get(Broadcast, broadcast_id)
            close_at = self._close_time(broadcast)
        self._scheduler.at(close_at, f"close:{broadcast_id}", self.close, broadcast_id)
        log.info("broadcast %s sent to %s", broadcast_id, ", ".join(targets))

    def _retry_send(self, broadcast_id: str) -> None:
        self._scheduler.at(utcnow() + timedelta(seconds=SEND_RETRY_S), f"send:{broadcast_id}",
                           self.send, broadcast_id)

    def _close_time(self, broadcast: Broadcast) -> datetime:
        end = broadcast.start_at + timedelta(milliseconds=broadcast.media.duration_ms)
        return max(broadcast.not_after, end) + timedelta(seconds=self.settings.missed_grace_s)

    # --- closing ---------------------------------------------------------------------------

    def close(self, broadcast_id: str) -> None:
        """After the play window: devices that never reported a start are 'missed'."""
        with self._sessions.begin() as session:
            broadcast = session.get(Broadcast, broadcast_id)
            if broadcast is None or broadcast.state not in ("sent", "scheduled"):
                return
            self._close(session, broadcast, "no start reported in the play window "
                        "(device offline, late or out of storage)")

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
        broadcast.state = "done"

    # --- cancelling ------------------------------------------------------------------------

    def cancel(self, broadcast_id: str) -> None:
        with self._sessions.begin() as session:
            broadcast = session.get(Broadcast, broadcast_id)
            if broadcast is None:
                raise ApiError(404, "broadcast.not_found")
            if broadcast.state in ("done", "cancelled", "rejected"):
                raise ApiError(409, "broadcast.not_cancellable")
            was_sent = broadcast.state in ("sending", "sent")
            targets = list(broadcast.targets)
            now = utcnow()
            broadcast.state = "cancelled"
            broadcast.cancelled_at = now
            for delivery in broadcast.deliveries:
                if DeliveryState(delivery.state) not in TERMINAL and \
                        delivery.state != DeliveryState.playing.value:
                    delivery.state = DeliveryState.cancelled.value
                    delivery.updated_at = now
        self._scheduler.cancel(f"send:{broadcast_id}")
        self._scheduler.cancel(f"close:{broadcast_id}")
        if was_sent:
            not_after = utcnow() + timedelta(seconds=self.settings.command_ttl_s)
            for target in targets:
                cmd = self._signer.issue(target, CancelCommand(play_id=broadcast_id), not_after,
                                         broadcast_id)
                try:
                    self._gateway.publish(cmd.topic, cmd.data, qos=1)
                except NotConnected:
                    log.error("cancel of %s for %s not delivered: broker unreachable",
                              broadcast_id, target)

    # --- restart ---------------------------------------------------------------------------

    def recover(self) -> None:
        """Rebuild jobs from the database after a (re)start; nothing fires twice."""
        with self._sessions.begin() as session:
            # A send interrupted between claim and publish: publish again; agents dedupe by
            # play id, and fresh sequence numbers keep the replay check happy.
            session.execute(update(Broadcast).where(Broadcast.state == "sending")
                            .values(state="scheduled"))
            pending = session.scalars(
                select(Broadcast).where(Broadcast.state.in_(("scheduled", "sent")))).all()
            jobs = [(b.id, b.state, b.send_at, self._close_time(b)) for b in pending]
        for broadcast_id, state, send_at, close_at in jobs:
            if state == "scheduled":
                self._scheduler.at(send_at, f"send:{broadcast_id}", self.send, broadcast_id)
            else:
                self._scheduler.at(close_at, f"close:{broadcast_id}", self.close, broadcast_id)
        if jobs:
            log.info("recovered %d pending broadcasts", len(jobs))
