"""Schedules: the stored set (export), a checked idempotent sync (apply), and the preview."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from protocol.messages import utcnow

from ..domain.schedules import ScheduleSet, ScheduleSpec
from ..errors import ApiError
from .deps import Operator, ServicesDep

router = APIRouter(prefix="/api/schedules", tags=["schedules"], dependencies=[Operator])


class ProblemOut(BaseModel):
    schedule: str
    code: str
    message: str


class SyncOut(BaseModel):
    applied: bool
    added: list[str]
    changed: list[str]
    removed: list[str]
    settings_changed: bool
    problems: list[ProblemOut]


class PlanRowOut(BaseModel):
    play_id: str
    schedule: str
    priority: str
    start: datetime
    end: datetime
    local_start: str
    targets: list[str]
    devices: list[str]
    preempts: list[str]


@router.get("", response_model=ScheduleSet)
def export_schedules(svc: ServicesDep) -> ScheduleSet:
    """The whole stored schedule set, in the same shape as a schedule file."""
    return svc.schedules.current()


@router.put("", response_model=SyncOut, responses={422: {"model": SyncOut}})
def sync_schedules(body: ScheduleSet, svc: ServicesDep,
                   dry_run: bool = Query(False, description="report the diff, change nothing")):
    """Make the stored set equal to ``body``: add, change and remove schedules (idempotent).

    Any problem (conflict, quiet hours, missing media, ...) → 422 and nothing is stored.
    """
    result = svc.schedules.sync(body, dry_run=dry_run)
    if dry_run:
        return SyncOut(applied=False, added=result.added, changed=result.changed,
                       removed=result.removed, settings_changed=result.settings_changed,
                       problems=[ProblemOut(**p.__dict__) for p in result.problems])
    return _sync_response(svc, result)


@router.get("/plan", response_model=list[PlanRowOut])
def plan_schedules(svc: ServicesDep, days: int = Query(7, ge=1, le=31),
                   zone: str | None = None) -> list[PlanRowOut]:
    """What plays when and where over the next days, and what preempts what."""
    now = utcnow()
    rows, fleet = svc.schedules.preview(now, now + timedelta(days=days))
    out = []
    for row in rows:
        o = row.occurrence
        devices = sorted(d for t in o.targets for d in fleet.devices_of(t)
                         if d != "*" and not d.startswith("zone:"))
        if zone and not any(t == "all" or t == f"zone:{zone}" for t in o.targets) and \
                not set(devices) & fleet.zones.get(zone, frozenset()):
            continue
        out.append(PlanRowOut(play_id=o.play_id, schedule=o.schedule, priority=o.priority,
                              start=o.start, end=o.end, local_start=o.local_start.isoformat(),
                              targets=list(o.targets), devices=sorted(set(devices)),
                              preempts=list(row.preempts)))
    return out


def _sync_response(svc, result) -> SyncOut | JSONResponse:  # type: ignore[no-untyped-def]
    out = SyncOut(applied=not result.problems and not result.unchanged, added=result.added,
                  changed=result.changed, removed=result.removed,
                  settings_changed=result.settings_changed,
                  problems=[ProblemOut(**p.__dict__) for p in result.problems])
    if result.problems:
        return JSONResponse(out.model_dump(mode="json"), status_code=422)
    if out.applied:
        svc.plans_changed()
    return out


@router.get("/{name}", response_model=ScheduleSpec)
def get_schedule(name: str, svc: ServicesDep) -> ScheduleSpec:
    for spec in svc.schedules.current().schedules:
        if spec.name == name:
            return spec
    raise ApiError(404, "schedule.not_found", name=name)


@router.put("/{name}", response_model=SyncOut, responses={422: {"model": SyncOut}})
def put_schedule(name: str, body: ScheduleSpec, svc: ServicesDep):
    """Add or replace one schedule; checked together with all the others."""
    if body.name != name:
        raise ApiError(422, "schedule.name_mismatch", name=name)
    current = svc.schedules.current()
    others = [s for s in current.schedules if s.name != name]
    wanted = current.model_copy(update={"schedules": [*others, body]})
    return _sync_response(svc, svc.schedules.sync(wanted))


@router.delete("/{name}", response_model=SyncOut)
def delete_schedule(name: str, svc: ServicesDep):
    current = svc.schedules.current()
    if not any(s.name == name for s in current.schedules):
        raise ApiError(404, "schedule.not_found", name=name)
    wanted = current.model_copy(
        update={"schedules": [s for s in current.schedules if s.name != name]})
    return _sync_response(svc, svc.schedules.sync(wanted))
