"""Schedules: the stored set (export), a checked idempotent sync (apply), and the preview.

A broadcaster's edit is checked at once (problems → 422) but only proposed: it waits as a
schedule change until an approver applies it (202). Approvers and admins apply directly."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from protocol.messages import utcnow

from ..auth import Principal
from ..domain.errors import Invalid, NotFound
from ..domain.schedule_change import ScheduleChangeState
from ..http import ServicesDep, allow
from ..schedules.changes import ChangeOutcome, ChangeRecord
from ..schedules.model import ScheduleSet, ScheduleSpec
from .schemas import RejectIn, RowId

SYNC_REFUSED: dict[str, object] = {
    "description": "the problems (nothing stored), or a request that does not validate",
    "content": {
        "application/json": {
            "schema": {
                "anyOf": [
                    {"$ref": "#/components/schemas/SyncOut"},
                    {"$ref": "#/components/schemas/ErrorOut"},
                ]
            }
        }
    },
}

router = APIRouter(prefix="/api/schedules", tags=["schedules"])
changes_router = APIRouter(prefix="/api/schedule-changes", tags=["schedules"])


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
    pending_change: int | None = None  # stored for an approver instead of applied


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


def _respond(outcome: ChangeOutcome) -> SyncOut | JSONResponse:
    """200 applied or unchanged, 202 proposed for an approver, 422 with the problems."""
    r = outcome.result
    out = SyncOut(
        applied=outcome.applied,
        added=r.added,
        changed=r.changed,
        removed=r.removed,
        settings_changed=r.settings_changed,
        pending_change=outcome.pending_change,
        problems=[ProblemOut(**p.__dict__) for p in outcome.problems],
    )
    status = 422 if outcome.problems else 202 if outcome.pending_change else 200
    return out if status == 200 else JSONResponse(out.model_dump(mode="json"), status_code=status)


@router.get("", response_model=ScheduleSet, dependencies=[allow("schedule.read")])
def export_schedules(svc: ServicesDep) -> ScheduleSet:
    """The whole stored schedule set, in the same shape as a schedule file."""
    return svc.schedules.current()


@router.put("", response_model=SyncOut, responses={202: {"model": SyncOut}, 422: SYNC_REFUSED})
def sync_schedules(
    body: ScheduleSet,
    svc: ServicesDep,
    dry_run: bool = Query(False, description="report the diff, change nothing"),
    who: Principal = allow("schedule.write"),
) -> Any:
    """Make the stored set equal to ``body``: add, change and remove schedules (idempotent).

    Any problem (conflict, quiet hours, missing media, ...) → 422 and nothing is stored.
    """
    if not dry_run:
        return _respond(
            svc.schedule_changes.change(who, "replace", "", body.model_dump(mode="json"))
        )
    result = svc.schedule_changes.check(body)
    return SyncOut(
        applied=False,
        added=result.added,
        changed=result.changed,
        removed=result.removed,
        settings_changed=result.settings_changed,
        problems=[ProblemOut(**p.__dict__) for p in result.problems],
    )


@router.get("/plan", response_model=list[PlanRowOut], dependencies=[allow("schedule.read")])
def plan_schedules(
    svc: ServicesDep, days: int = Query(7, ge=1, le=31), zone: str | None = None
) -> list[PlanRowOut]:
    """What plays when and where over the next days, and what preempts what."""
    now = utcnow()
    rows, fleet = svc.schedules.preview(now, now + timedelta(days=days))
    out = []
    for row in rows:
        o = row.occurrence
        devices = sorted(
            d
            for t in o.targets
            for d in fleet.devices_of(t)
            if d != "*" and not d.startswith("zone:")
        )
        if (
            zone
            and not any(t == "all" or t == f"zone:{zone}" for t in o.targets)
            and not set(devices) & fleet.zones.get(zone, frozenset())
        ):
            continue
        out.append(
            PlanRowOut(
                play_id=o.play_id,
                schedule=o.schedule,
                priority=o.priority,
                start=o.start,
                end=o.end,
                local_start=o.local_start.isoformat(),
                targets=list(o.targets),
                devices=sorted(set(devices)),
                preempts=list(row.preempts),
            )
        )
    return out


@router.get("/{name}", response_model=ScheduleSpec, dependencies=[allow("schedule.read")])
def get_schedule(name: str, svc: ServicesDep) -> ScheduleSpec:
    for spec in svc.schedules.current().schedules:
        if spec.name == name:
            return spec
    raise NotFound("schedule.not_found", name=name)


@router.put(
    "/{name}", response_model=SyncOut, responses={202: {"model": SyncOut}, 422: SYNC_REFUSED}
)
def put_schedule(
    name: str, body: ScheduleSpec, svc: ServicesDep, who: Principal = allow("schedule.write")
) -> Any:
    """Add or replace one schedule; checked together with all the others."""
    if body.name != name:
        raise Invalid("schedule.name_mismatch", name=name)
    return _respond(svc.schedule_changes.change(who, "put", name, body.model_dump(mode="json")))


@router.delete("/{name}", response_model=SyncOut, responses={202: {"model": SyncOut}})
def delete_schedule(name: str, svc: ServicesDep, who: Principal = allow("schedule.write")) -> Any:
    return _respond(svc.schedule_changes.change(who, "delete", name, {}))


@changes_router.get("", response_model=list[ChangeRecord], dependencies=[allow("schedule.read")])
def list_schedule_changes(
    svc: ServicesDep, state: ScheduleChangeState | None = Query(None)
) -> list[ChangeRecord]:
    """Proposed schedule edits, newest first (``state=pending``: the approver's queue)."""
    changes = svc.schedule_changes.list(state)
    if state == ScheduleChangeState.pending:
        changes.reverse()  # newest first here too
    return changes


@changes_router.post("/{change_id}/approve", response_model=SyncOut, responses={422: SYNC_REFUSED})
def approve_schedule_change(
    change_id: RowId, svc: ServicesDep, who: Principal = allow("schedule.approve")
) -> Any:
    """Apply a proposed edit, checked again against the set as it is now."""
    return _respond(svc.schedule_changes.approve(who, change_id))


@changes_router.post("/{change_id}/reject", response_model=ChangeRecord)
def reject_schedule_change(
    change_id: RowId, body: RejectIn, svc: ServicesDep, who: Principal = allow("schedule.approve")
) -> ChangeRecord:
    return svc.schedule_changes.reject(who, change_id, body.reason)
