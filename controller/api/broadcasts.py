"""Broadcasts: send a bulletin now or at a time, follow it per device, cancel it; the logs."""

from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy import select

from ..broadcasts import BroadcastRequest
from ..db.models import Broadcast, Device, DeviceEvent
from ..domain.delivery import DeliveryState, summarise
from ..errors import ApiError
from .deps import Operator, ServicesDep
from .schemas import BroadcastIn, BroadcastOut, DeliveryOut, DeviceEventOut

router = APIRouter(tags=["broadcasts"], dependencies=[Operator])


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
        summary=summarise([DeliveryState(d.state) for d in broadcast.deliveries]),
        start_skew_ms=skew, deliveries=deliveries)


def _statuses(session) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return dict(session.execute(select(Device.id, Device.status)).all())


@router.post("/api/broadcasts", status_code=201, response_model=BroadcastOut)
def create_broadcast(body: BroadcastIn, svc: ServicesDep) -> BroadcastOut:
    """Broadcast a stored bulletin to zones/devices/all, now or at ``start_at``."""
    broadcast_id = svc.broadcasts.create(BroadcastRequest(
        media_sha256=body.media_sha256, targets=list(body.targets), start_at=body.start_at,
        priority=body.priority, title=body.title, max_late_s=body.max_late_s,
        volume=body.volume))
    return get_broadcast(broadcast_id, svc)


@router.get("/api/broadcasts", response_model=list[BroadcastOut])
def list_broadcasts(svc: ServicesDep, limit: int = Query(50, ge=1, le=500)) -> list[BroadcastOut]:
    with svc.sessions() as session:
        rows = session.scalars(
            select(Broadcast).order_by(Broadcast.start_at.desc()).limit(limit)).all()
        statuses = _statuses(session)
        return [broadcast_out(b, statuses) for b in rows]


@router.get("/api/broadcasts/{broadcast_id}", response_model=BroadcastOut)
def get_broadcast(broadcast_id: str, svc: ServicesDep) -> BroadcastOut:
    """Where the broadcast stands on every device, with actual start times and skew."""
    with svc.sessions() as session:
        broadcast = session.get(Broadcast, broadcast_id)
        if broadcast is None:
            raise ApiError(404, "broadcast.not_found")
        return broadcast_out(broadcast, _statuses(session))


@router.post("/api/broadcasts/{broadcast_id}/cancel", response_model=BroadcastOut)
def cancel_broadcast(broadcast_id: str, svc: ServicesDep) -> BroadcastOut:
    """Cancel before it starts (or stop it while playing: devices report 'interrupted')."""
    svc.broadcasts.cancel(broadcast_id)
    return get_broadcast(broadcast_id, svc)


@router.get("/api/events", response_model=list[DeviceEventOut])
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


@router.get("/api/playback-log", response_model=list[DeviceEventOut])
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
