"""Broadcasts: send a bulletin now or at a time, follow it per device, cancel it; the logs."""

from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy import select

from ..auth import hold_for
from ..broadcasts import BroadcastRequest
from protocol.messages import Priority
from ..db.models import Broadcast, Device, DeviceEvent
from ..domain.delivery import DeliveryState, summarise
from ..errors import ApiError
from .deps import Principal, ServicesDep, allow, audit
from .schemas import BroadcastIn, BroadcastOut, DeliveryOut, DeviceEventOut, RejectIn

router = APIRouter(tags=["broadcasts"])


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
        id=broadcast.id, title=broadcast.title, media_sha256=broadcast.media_sha256,
        duration_ms=broadcast.media.duration_ms, priority=broadcast.priority,
        targets=list(broadcast.targets), state=broadcast.state, start_at=broadcast.start_at,
        send_at=broadcast.send_at, not_after=broadcast.not_after,
        created_at=broadcast.created_at, sent_at=broadcast.sent_at,
        created_by=broadcast.created_by, approved_by=broadcast.approved_by,
        approved_at=broadcast.approved_at, rejected_reason=broadcast.rejected_reason,
        summary=summarise([DeliveryState(d.state) for d in broadcast.deliveries]),
        start_skew_ms=skew, deliveries=deliveries)


def _statuses(session) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return dict(session.execute(select(Device.id, Device.status)).all())


@router.post("/api/broadcasts", status_code=201, response_model=BroadcastOut)
def create_broadcast(body: BroadcastIn, svc: ServicesDep,
                     who: Principal = allow("broadcast.create")) -> BroadcastOut:
    """Broadcast a stored bulletin to zones/devices/all, now or at ``start_at``.

    A broadcaster's broadcast waits for an approver (state ``pending_approval``); every
    emergency waits for a second person to confirm it (``pending_confirmation``).
    """
    hold = "draft" if body.draft else hold_for(who.roles, body.priority == Priority.emergency)
    broadcast_id = svc.broadcasts.create(BroadcastRequest(
        media_sha256=body.media_sha256, targets=list(body.targets), start_at=body.start_at,
        priority=body.priority, title=body.title, max_late_s=body.max_late_s,
        volume=body.volume, created_by=who.username, hold=hold))
    audit(svc, who, "broadcast.create", broadcast_id, media=body.media_sha256,
          targets=list(body.targets), priority=body.priority.value, held=hold)
    return _get(broadcast_id, svc)


@router.get("/api/broadcasts", response_model=list[BroadcastOut], dependencies=[allow("broadcast.read")])
def list_broadcasts(svc: ServicesDep, limit: int = Query(50, ge=1, le=500),
                    state: str | None = Query(None, description="e.g. pending_approval")
                    ) -> list[BroadcastOut]:
    with svc.sessions() as session:
        query = select(Broadcast).order_by(Broadcast.start_at.desc()).limit(limit)
        if state:
            query = query.where(Broadcast.state == state)
        rows = session.scalars(query).all()
        statuses = _statuses(session)
        return [broadcast_out(b, statuses) for b in rows]


@router.get("/api/broadcasts/{broadcast_id}", response_model=BroadcastOut,
            dependencies=[allow("broadcast.read")])
def get_broadcast(broadcast_id: str, svc: ServicesDep) -> BroadcastOut:
    """Where the broadcast stands on every device, with actual start times and skew."""
    return _get(broadcast_id, svc)


def _get(broadcast_id: str, svc: ServicesDep) -> BroadcastOut:
    with svc.sessions() as session:
        broadcast = session.get(Broadcast, broadcast_id)
        if broadcast is None:
            raise ApiError(404, "broadcast.not_found")
        return broadcast_out(broadcast, _statuses(session))


@router.post("/api/broadcasts/{broadcast_id}/cancel", response_model=BroadcastOut)
def cancel_broadcast(broadcast_id: str, svc: ServicesDep,
                     who: Principal = allow("broadcast.cancel")) -> BroadcastOut:
    """Cancel before it starts (or stop it while playing: devices report 'interrupted')."""
    svc.broadcasts.cancel(broadcast_id)
    audit(svc, who, "broadcast.cancel", broadcast_id)
    return _get(broadcast_id, svc)


@router.post("/api/broadcasts/{broadcast_id}/submit", response_model=BroadcastOut)
def submit_draft(broadcast_id: str, svc: ServicesDep,
                 who: Principal = allow("broadcast.create")) -> BroadcastOut:
    """Its author sends a draft on, as if created now: to an approver, to a second person (an
    emergency), or straight out (an approver's or admin's own)."""
    try:
        priority = _get(broadcast_id, svc).priority
        svc.broadcasts.submit(broadcast_id, who.username,
                              hold_for(who.roles, priority == Priority.emergency.value))
    except ApiError as exc:
        audit(svc, who, "broadcast.submit", broadcast_id, "denied", error=exc.key)
        raise
    audit(svc, who, "broadcast.submit", broadcast_id)
    return _get(broadcast_id, svc)


@router.post("/api/broadcasts/{broadcast_id}/approve", response_model=BroadcastOut)
def approve_broadcast(broadcast_id: str, svc: ServicesDep,
                      who: Principal = allow("broadcast.approve")) -> BroadcastOut:
    """An approver releases a broadcaster's broadcast (never their own)."""
    return _release(svc, who, broadcast_id, "pending_approval", "broadcast.approve")


@router.post("/api/broadcasts/{broadcast_id}/confirm", response_model=BroadcastOut)
def confirm_emergency(broadcast_id: str, svc: ServicesDep,
                      who: Principal = allow("broadcast.confirm")) -> BroadcastOut:
    """The second person of an emergency broadcast: someone other than its sender."""
    return _release(svc, who, broadcast_id, "pending_confirmation", "broadcast.confirm")


def _release(svc: ServicesDep, who: Principal, broadcast_id: str, held_as: str,
             action: str) -> BroadcastOut:
    """Approve or confirm, with the attempt in the audit log whether it worked or not."""
    try:
        svc.broadcasts.release(broadcast_id, who.username, held_as)
    except ApiError as exc:
        audit(svc, who, action, broadcast_id, "denied", error=exc.key)
        raise
    audit(svc, who, action, broadcast_id)
    return _get(broadcast_id, svc)


@router.post("/api/broadcasts/{broadcast_id}/reject", response_model=BroadcastOut)
def reject_broadcast(broadcast_id: str, body: RejectIn, svc: ServicesDep,
                     who: Principal = allow("broadcast.approve")) -> BroadcastOut:
    """Refuse a held broadcast (or an emergency nobody should confirm), with a reason."""
    svc.broadcasts.reject(broadcast_id, who.username, body.reason)
    audit(svc, who, "broadcast.reject", broadcast_id, reason=body.reason)
    return _get(broadcast_id, svc)


@router.get("/api/events", response_model=list[DeviceEventOut], dependencies=[allow("event.read")])
def list_events(
    svc: ServicesDep,
    type: str | None = Query(None, description="e.g. security, playback.finished, ack"),
    device_id: str | None = None,
    play_id: str | None = None,
    limit: int = Query(200, ge=1, le=5000),
) -> list[DeviceEventOut]:
    """Everything agents reported, newest first: the playback log and security events."""
    with svc.sessions() as session:
        query = select(DeviceEvent).order_by(DeviceEvent.ts.desc(), DeviceEvent.id.desc())
        if type:
            query = query.where(DeviceEvent.type == type)
        if device_id:
            query = query.where(DeviceEvent.device_id == device_id)
        if play_id:
            query = query.where(DeviceEvent.play_id == play_id)
        rows = session.scalars(query.limit(limit)).all()
        return [DeviceEventOut.model_validate(r) for r in rows]


@router.get("/api/playback-log", response_model=list[DeviceEventOut], dependencies=[allow("event.read")])
def playback_log(svc: ServicesDep, device_id: str | None = None,
                 limit: int = Query(200, ge=1, le=5000)) -> list[DeviceEventOut]:
    """Proof of play: finished and failed playbacks, newest first."""
    with svc.sessions() as session:
        query = (select(DeviceEvent)
                 .where(DeviceEvent.type.in_(("playback.finished", "playback.failed")))
                 .order_by(DeviceEvent.ts.desc()))
        if device_id:
            query = query.where(DeviceEvent.device_id == device_id)
        rows = session.scalars(query.limit(limit)).all()
        return [DeviceEventOut.model_validate(r) for r in rows]
