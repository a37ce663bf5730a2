"""SMS orders to clusters (``protocol/sms.py``): a pinned message or STOP, signed with the
controller's key, one SMS per cluster to the number of the SIM in its modem, through the
station's modem or the HTTPS gateway (``controller/sms/senders.py``).

Sent on demand ("Gửi qua SMS"), and on their own for an emergency a cluster has not
acknowledged over MQTT within ``sms_fallback_after_s``; sent once more after
``sms_resend_after_s`` while nothing is heard (the copy plays once). What became of each is
what the cluster reports through its outbox once its link is back (``fleet/sms_reports.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import Priority, utcnow
from protocol.sms import SmsAction, encode_sms, play_id
from protocol.sms import SmsOrder as WireOrder
from protocol.urls import fm_khz

from ..auth import Principal
from ..db.models import Broadcast, Delivery, Device, DeviceZone, ScheduledPlay
from ..db.storm import SmsOrder
from ..domain.delivery import DeliveryState
from ..domain.errors import Invalid
from ..domain.sms import SmsState, advance
from ..fleet.commands import CommandPath, next_seqs
from ..sms.senders import SmsChannels, SmsNotSent
from .audit import AuditLog
from .pinned import PinnedService

log = logging.getLogger(__name__)

SEQ_KEY = "sms"
"""One sequence for every SMS order (``command_sequences``): each cluster keeps the last."""
MAX_SENDS = 3
FALLBACK_WINDOW = timedelta(minutes=30)
"""An emergency older than this gets no SMS on its own (a person can still send one)."""


class SmsOrderOut(BaseModel):
    seq: int
    device_id: str
    device_name: str
    action: str
    message: str
    broadcast_id: str | None
    channel: str
    state: SmsState
    detail: str
    sends: int
    created_by: str
    created_at: datetime
    sent_at: datetime | None
    valid_until: datetime
    reported_at: datetime | None
    played_at: datetime | None


class SmsSendOut(BaseModel):
    orders: list[SmsOrderOut]
    no_phone: list[str]  # clusters the SMS could not go to: no SIM number registered


@dataclass(frozen=True)
class _Prepared:
    seq: int
    phone: str
    text: str


class SmsOrderService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        commands: CommandPath,
        channels: SmsChannels,
        pinned: PinnedService,
        audit: AuditLog,
        valid_min: int = 30,
        changed: Callable[[], None] = lambda: None,
    ):
        self._sessions = sessions
        self._commands = commands
        self.channels = channels
        self._pinned = pinned
        self._audit = audit
        self._valid = timedelta(minutes=valid_min)
        self._changed = changed

    # --- sending ------------------------------------------------------------------------

    def send(
        self,
        who: Principal,
        targets: list[str],
        action: SmsAction = SmsAction.play,
        message: str | None = None,
        broadcast_id: str | None = None,
        fm_minutes: int = 60,
    ) -> SmsSendOut:
        """One SMS order per cluster the targets reach: a pinned message (the first pinned
        when none is named), STOP, or an FM frequency (``message`` in kHz) relayed by the
        cluster's tuner for ``fm_minutes`` (the order's window)."""
        if not self.channels.available:
            raise Invalid("sms.no_channel")
        duration_ms, valid = 0, self._valid
        if action is SmsAction.play:
            pinned = self._pinned.messages()
            if not pinned:
                raise Invalid("sms.nothing_pinned")
            chosen = next((m for m in pinned if m.id == message), None) if message else pinned[0]
            if chosen is None:
                raise Invalid("pinned.not_found", id=message or "")
            message, duration_ms = chosen.id, chosen.duration_ms
        elif action is SmsAction.stop:
            message = "-"
        elif action is SmsAction.fm:
            khz = fm_khz(f"fm:{message}") if message else None
            if khz is None or not 1 <= fm_minutes <= 360:
                raise Invalid("sms.bad_fm", frequency=message or "")
            message, duration_ms = str(khz), fm_minutes * 60_000
            valid = timedelta(minutes=fm_minutes)
        else:
            raise Invalid("sms.unsupported_action", action=action.name)
        devices, no_phone = self._reached(targets)
        if not devices and not no_phone:
            raise Invalid("broadcast.no_targets")
        prepared = self._record(who, devices, action, message, duration_ms, broadcast_id, valid)
        for one in prepared:
            self._send_one(one)
        self._audit.record(who, f"sms.{action.name}", f"{message} → {', '.join(targets)}")
        self._changed()
        return SmsSendOut(orders=self.list(seqs=[p.seq for p in prepared]), no_phone=no_phone)

    def _reached(self, targets: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
        """(device id, phone) of the clusters with a number, and those without."""
        with self._sessions() as session:
            query = select(Device.id, Device.phone).where(Device.retired.is_(False))
            if "all" not in targets:
                ids = [t.split(":", 1)[1] for t in targets if t.startswith("device:")]
                zones = [t.split(":", 1)[1] for t in targets if t.startswith("zone:")]
                in_zone = select(DeviceZone.device_id).where(DeviceZone.zone_id.in_(zones))
                query = query.where(or_(Device.id.in_(ids), Device.id.in_(in_zone)))
            rows = session.execute(query.order_by(Device.id)).all()
        return [(r.id, r.phone) for r in rows if r.phone], [r.id for r in rows if not r.phone]

    def _record(
        self,
        who: Principal,
        devices: list[tuple[str, str]],
        action: SmsAction,
        message: str,
        duration_ms: int,
        broadcast_id: str | None,
        valid: timedelta,
    ) -> list[_Prepared]:
        """Numbered, signed and recorded (with the play each may report) before any is sent."""
        now = utcnow()
        valid_from, valid_until = now - timedelta(minutes=1), now + valid
        key = self._commands.key
        prepared: list[_Prepared] = []
        with self._sessions.begin() as session:
            seqs = next_seqs(session, [SEQ_KEY] * len(devices))
            for (device_id, phone), seq in zip(devices, seqs, strict=True):
                text = encode_sms(
                    WireOrder(action, f"device:{device_id}", message, seq, valid_from, valid_until),
                    key.private,
                )
                session.add(
                    SmsOrder(
                        seq=seq,
                        device_id=device_id,
                        phone=phone,
                        action=action.name,
                        message=message,
                        broadcast_id=broadcast_id,
                        text=text,
                        channel="",
                        state=SmsState.sending,
                        detail="",
                        sends=0,
                        created_by=who.username,
                        created_at=now,
                        valid_until=valid_until,
                    )
                )
                if action is not SmsAction.stop:  # what its play report is checked against
                    fm = action is SmsAction.fm  # a relay: over when the window closes
                    session.add(
                        ScheduledPlay(
                            play_id=play_id(seq),
                            start_at=valid_from,
                            latest_start=valid_until,
                            ends_by=valid_until
                            + timedelta(milliseconds=(0 if fm else duration_ms) + 60_000),
                            duration_ms=None if fm else duration_ms,
                            targets=[f"device:{device_id}"],
                        )
                    )
                prepared.append(_Prepared(seq, phone, text))
        return prepared

    def _send_one(self, one: _Prepared) -> None:
        try:
            channel, reference = self.channels.send(one.phone, one.text)
            state, detail = SmsState.sent, reference
        except SmsNotSent as exc:
            channel, state, detail = "", SmsState.failed, str(exc)
        with self._sessions.begin() as session:
            row = session.get(SmsOrder, one.seq)
            if row is None:
                return
            row.sends += 1
            row.detail = detail[:300]
            if state is SmsState.sent:
                row.channel, row.sent_at = channel, utcnow()
            row.state = advance(row.state, state)
        log.info("SMS order %d to %s: %s %s", one.seq, one.phone, state.value, detail)

    # --- on their own (leader jobs) -----------------------------------------------------

    def fallback_tick(self, after_s: float) -> int:
        """Every cluster that has not reported the start of a sent emergency ``after_s``
        after its start time (its link is gone: no ack, no start can reach us): the first
        pinned message by SMS (once per emergency and cluster). A delivery's ``acked_at``
        cannot tell: the prepare sent while the emergency waited is acknowledged too."""
        if after_s <= 0 or not self.channels.available:
            return 0
        now = utcnow()
        sounding = [
            DeliveryState.playing,
            DeliveryState.played,
            DeliveryState.interrupted,
            DeliveryState.cancelled,
        ]
        with self._sessions() as session:
            rows = session.execute(
                select(Delivery.broadcast_id, Delivery.device_id)
                .join(Broadcast, Broadcast.id == Delivery.broadcast_id)
                .join(Device, Device.id == Delivery.device_id)
                .outerjoin(
                    SmsOrder,
                    and_(
                        SmsOrder.broadcast_id == Delivery.broadcast_id,
                        SmsOrder.device_id == Delivery.device_id,
                    ),
                )
                .where(
                    Broadcast.priority == Priority.emergency.value,
                    Broadcast.sent_at.is_not(None),
                    Broadcast.start_at > now - FALLBACK_WINDOW,
                    Broadcast.start_at < now - timedelta(seconds=after_s),
                    Delivery.started_at.is_(None),
                    Delivery.state.not_in(sounding),
                    Device.phone.is_not(None),
                    SmsOrder.seq.is_(None),
                )
            ).all()
        by_broadcast: dict[str, list[str]] = {}
        for broadcast_id, device_id in rows:
            by_broadcast.setdefault(broadcast_id, []).append(device_id)
        system = Principal("system")
        for broadcast_id, device_ids in by_broadcast.items():
            log.warning(
                "emergency %s not acknowledged by %s after %.0f s: sent by SMS",
                broadcast_id,
                ", ".join(device_ids),
                after_s,
            )
            try:
                self.send(system, [f"device:{d}" for d in device_ids], broadcast_id=broadcast_id)
            except Invalid as exc:
                log.error("emergency %s: no SMS sent (%s)", broadcast_id, exc)
        return sum(len(d) for d in by_broadcast.values())

    def resend_tick(self, after_s: float) -> int:
        """An order nothing has been heard of, still valid: sent once more (or first sent,
        if no channel took it before)."""
        now = utcnow()
        with self._sessions() as session:
            rows = session.scalars(
                select(SmsOrder).where(
                    SmsOrder.state.in_([SmsState.sent, SmsState.failed]),
                    SmsOrder.sends < MAX_SENDS,
                    SmsOrder.valid_until > now,
                    func.coalesce(SmsOrder.sent_at, SmsOrder.created_at)
                    < now - timedelta(seconds=after_s),
                )
            ).all()
            again = [_Prepared(r.seq, r.phone, r.text) for r in rows]
        for one in again:
            self._send_one(one)
        if again:
            self._changed()
        return len(again)

    # --- reading ------------------------------------------------------------------------

    def list(
        self,
        broadcast_id: str | None = None,
        seqs: list[int] | None = None,
        limit: int = 200,
    ) -> list[SmsOrderOut]:
        with self._sessions() as session:
            query = select(SmsOrder, Device.name).join(Device)
            if broadcast_id is not None:
                query = query.where(SmsOrder.broadcast_id == broadcast_id)
            if seqs is not None:
                query = query.where(SmsOrder.seq.in_(seqs))
            rows = session.execute(query.order_by(SmsOrder.seq.desc()).limit(limit)).all()
            return [
                SmsOrderOut(
                    seq=o.seq,
                    device_id=o.device_id,
                    device_name=name,
                    action=o.action,
                    message=o.message,
                    broadcast_id=o.broadcast_id,
                    channel=o.channel,
                    state=o.state,
                    detail=o.detail,
                    sends=o.sends,
                    created_by=o.created_by,
                    created_at=o.created_at,
                    sent_at=o.sent_at,
                    valid_until=o.valid_until,
                    reported_at=o.reported_at,
                    played_at=o.played_at,
                )
                for o, name in rows
            ]
