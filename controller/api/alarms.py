"""Alarms raised by agents (mains lost, dead speaker line, door, ...) and their acknowledgement."""

from __future__ import annotations

from fastapi import APIRouter, Query

from ..auth import Principal
from ..http import ServicesDep, allow
from ..services.views import AlarmOut
from .schemas import AlarmAckIn, RowId

router = APIRouter(prefix="/api/alarms", tags=["alarms"])


@router.get("", response_model=list[AlarmOut], dependencies=[allow("alarm.read")])
def list_alarms(
    svc: ServicesDep,
    device_id: str | None = None,
    state: str = Query(
        "open",
        pattern="^(open|active|unacknowledged|all)$",
        description="open: active or not yet acknowledged",
    ),
    limit: int = Query(500, ge=1, le=5000),
) -> list[AlarmOut]:
    """Alarms, newest first. A technician's list is ``open``: still active or not yet seen."""
    return svc.alarms.list(device_id, state, limit)


@router.post("/{alarm_id}/ack", response_model=AlarmOut)
def acknowledge_alarm(
    alarm_id: RowId, body: AlarmAckIn, svc: ServicesDep, who: Principal = allow("alarm.ack")
) -> AlarmOut:
    """A technician has seen the alarm. It leaves the open list once it has also cleared."""
    return svc.alarms.acknowledge(who, alarm_id, body.note, body.by)
