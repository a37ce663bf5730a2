"""Alarms raised by agents (mains lost, dead speaker line, door, ...) and their acknowledgement."""

from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy import select

from protocol.messages import utcnow

from ..db.models import Alarm
from ..errors import ApiError
from .deps import Principal, ServicesDep, allow, audit
from .schemas import AlarmAckIn, AlarmOut

router = APIRouter(prefix="/api/alarms", tags=["alarms"])


@router.get("", response_model=list[AlarmOut], dependencies=[allow("alarm.read")])
def list_alarms(
    svc: ServicesDep,
    device_id: str | None = None,
    state: str = Query("open", pattern="^(open|active|unacknowledged|all)$",
                       description="open: active or not yet acknowledged"),
    limit: int = Query(500, ge=1, le=5000),
) -> list[AlarmOut]:
    """Alarms, newest first. A technician's list is ``open``: still active or not yet seen."""
    with svc.sessions() as session:
        query = select(Alarm).order_by(Alarm.raised_at.desc(), Alarm.id.desc())
        if device_id:
            query = query.where(Alarm.device_id == device_id)
        if state == "active":
            query = query.where(Alarm.cleared_at.is_(None))
        elif state == "unacknowledged":
            query = query.where(Alarm.acknowledged_at.is_(None))
        elif state == "open":
            query = query.where(Alarm.is_open())
        return [AlarmOut.model_validate(a) for a in session.scalars(query.limit(limit))]


@router.post("/{alarm_id}/ack", response_model=AlarmOut)
def acknowledge_alarm(alarm_id: int, body: AlarmAckIn, svc: ServicesDep,
                      who: Principal = allow("alarm.ack")) -> AlarmOut:
    """A technician has seen the alarm. It leaves the open list once it has also cleared."""
    with svc.sessions.begin() as session:
        alarm = session.get(Alarm, alarm_id)
        if alarm is None:
            raise ApiError(404, "alarm.not_found", id=alarm_id)
        if alarm.acknowledged_at is None:
            alarm.acknowledged_at = utcnow()
            alarm.acknowledged_by = body.by if who.is_system and body.by else who.username
            alarm.ack_note = body.note
        out = AlarmOut.model_validate(alarm)
    audit(svc, who, "alarm.ack", f"{out.device_id}:{out.key}", note=body.note)
    return out
