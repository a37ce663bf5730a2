"""Schedules: the stored set (export), a checked idempotent sync (apply), and the preview.

A broadcaster's edit is checked at once (problems → 422) but only proposed: it waits as a
schedule change until an approver applies it. Approvers and admins apply directly."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from protocol.messages import utcnow

from ..auth import skips_approval
from ..db.models import ScheduleChange
from ..domain.schedules import ScheduleSet, ScheduleSpec
from ..errors import ApiError
from .deps import Principal, ServicesDep, allow, audit
from .schemas import RejectIn

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


class ScheduleChangeOut(BaseModel):
    id: int
    kind: str
    name: str
    content: dict
    state: str
    created_by: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None


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


@router.get("", response_model=ScheduleSet, dependencies=[allow("schedule.read")])
def export_schedules(svc: ServicesDep) -> ScheduleSet:
    """The whole stored schedule set, in the same shape as a schedule file."""
    return svc.schedules.current()


@router.put("", response_model=SyncOut, responses={422: {"model": SyncOut}})
def sync_schedules(body: ScheduleSet, svc: ServicesDep,
                   dry_run: bool = Query(False, description="report the diff, change nothing"),
                   who: Principal = allow("schedule.write")):
    """Make the stored set equal to ``body``: add, change and remove schedules (idempotent).

    Any problem (conflict, quiet hours, missing media, ...) → 422 and nothing is stored.
    """
    if not dry_run:
        return _respond(change(svc, who, "replace", "", body.model_dump(mode="json")))
    result = svc.schedules.sync(body, dry_run=True)
    return SyncOut(applied=False, added=result.added, changed=result.changed,
                   removed=result.removed, settings_changed=result.settings_changed,
                   problems=[ProblemOut(**p.__dict__) for p in result.problems])


@router.get("/plan", response_model=list[PlanRowOut], dependencies=[allow("schedule.read")])
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


def _sync_out(svc: ServicesDep, result) -> tuple[int, SyncOut]:  # type: ignore[no-untyped-def]
    out = SyncOut(applied=not result.problems and not result.unchanged, added=result.added,
                  changed=result.changed, removed=result.removed,
                  settings_changed=result.settings_changed,
                  problems=[ProblemOut(**p.__dict__) for p in result.problems])
    if result.problems:
        return 422, out
    if out.applied:
        svc.plans_changed()
    return 200, out


def _respond(outcome: tuple[int, SyncOut]) -> SyncOut | JSONResponse:
    status, out = outcome
    return out if status == 200 else JSONResponse(out.model_dump(mode="json"),
                                                  status_code=status)


@router.get("/{name}", response_model=ScheduleSpec, dependencies=[allow("schedule.read")])
def get_schedule(name: str, svc: ServicesDep) -> ScheduleSpec:
    for spec in svc.schedules.current().schedules:
        if spec.name == name:
            return spec
    raise ApiError(404, "schedule.not_found", name=name)


@router.put("/{name}", response_model=SyncOut, responses={422: {"model": SyncOut}})
def put_schedule(name: str, body: ScheduleSpec, svc: ServicesDep,
                 who: Principal = allow("schedule.write")):
    """Add or replace one schedule; checked together with all the others."""
    if body.name != name:
        raise ApiError(422, "schedule.name_mismatch", name=name)
    return _respond(change(svc, who, "put", name, body.model_dump(mode="json")))


@router.delete("/{name}", response_model=SyncOut)
def delete_schedule(name: str, svc: ServicesDep, who: Principal = allow("schedule.write")):
    return _respond(change(svc, who, "delete", name, {}))


def _wanted(svc: ServicesDep, kind: str, name: str, content: dict) -> ScheduleSet:
    """The whole set a change asks for, against the set stored now."""
    if kind == "replace":
        return ScheduleSet.model_validate(content)
    current = svc.schedules.current()
    others = [s for s in current.schedules if s.name != name]
    if kind == "delete":
        if len(others) == len(current.schedules):
            raise ApiError(404, "schedule.not_found", name=name)
        return current.model_copy(update={"schedules": others})
    return current.model_copy(update={"schedules": [*others, ScheduleSpec.model_validate(content)]})


def change(svc: ServicesDep, who: Principal, kind: str, name: str, content: dict
           ) -> tuple[int, SyncOut]:
    """Apply an edit now (approvers, admins: 200) or check it and store it for an approver
    (broadcasters: 202 with ``pending_change``); any problem → 422 and nothing changes.
    ``kind`` is ``put`` (one schedule), ``delete`` or ``replace`` (the whole set)."""
    wanted = _wanted(svc, kind, name, content)
    if skips_approval(who.roles):
        outcome = _sync_out(svc, svc.schedules.sync(wanted))
        audit(svc, who, f"schedule.{kind}", name or "*", "failed" if outcome[0] != 200 else "ok")
        return outcome
    check = svc.schedules.sync(wanted, dry_run=True)
    if check.problems:
        return _sync_out(svc, check)
    with svc.sessions.begin() as session:
        proposal = ScheduleChange(kind=kind, name=name, content=content, state="pending",
                                  created_by=who.username, created_at=utcnow())
        session.add(proposal)
        session.flush()
        change_id = proposal.id
    audit(svc, who, f"schedule.{kind}.propose", name or "*", change=change_id)
    return 202, SyncOut(applied=False, added=check.added, changed=check.changed,
                        removed=check.removed, settings_changed=check.settings_changed,
                        problems=[], pending_change=change_id)


def _change_out(change: ScheduleChange) -> ScheduleChangeOut:
    return ScheduleChangeOut(
        id=change.id, kind=change.kind, name=change.name, content=change.content,
        state=change.state, created_by=change.created_by, created_at=change.created_at,
        decided_by=change.decided_by, decided_at=change.decided_at, reason=change.reason)


@changes_router.get("", response_model=list[ScheduleChangeOut], dependencies=[allow("schedule.read")])
def list_schedule_changes(svc: ServicesDep, state: str | None = Query(None)
                          ) -> list[ScheduleChangeOut]:
    """Proposed schedule edits, newest first (``state=pending``: the approver's queue)."""
    with svc.sessions() as session:
        query = session.query(ScheduleChange).order_by(ScheduleChange.id.desc())
        if state:
            query = query.filter(ScheduleChange.state == state)
        return [_change_out(c) for c in query.limit(500)]


def _pending(svc: ServicesDep, change_id: int) -> ScheduleChange:
    with svc.sessions() as session:
        change = session.get(ScheduleChange, change_id)
        if change is None:
            raise ApiError(404, "schedule_change.not_found", id=change_id)
        if change.state != "pending":
            raise ApiError(409, "schedule_change.decided", state=change.state)
        session.expunge(change)
        return change


@changes_router.post("/{change_id}/approve", response_model=SyncOut,
                     responses={422: {"model": SyncOut}})
def approve_schedule_change(change_id: int, svc: ServicesDep,
                            who: Principal = allow("schedule.approve")):
    """Apply a proposed edit, checked again against the set as it is now."""
    proposed = _pending(svc, change_id)
    if proposed.created_by == who.username:
        raise ApiError(403, "approval.same_person")
    outcome = _sync_out(svc, svc.schedules.sync(
        _wanted(svc, proposed.kind, proposed.name, proposed.content)))
    if outcome[0] != 200:
        audit(svc, who, "schedule.approve", str(change_id), "failed")
        return _respond(outcome)
    _decide(svc, change_id, "approved", who.username, None)
    audit(svc, who, "schedule.approve", str(change_id), kind=proposed.kind, name=proposed.name)
    return _respond(outcome)


@changes_router.post("/{change_id}/reject", response_model=ScheduleChangeOut)
def reject_schedule_change(change_id: int, body: RejectIn, svc: ServicesDep,
                           who: Principal = allow("schedule.approve")) -> ScheduleChangeOut:
    _pending(svc, change_id)
    out = _decide(svc, change_id, "rejected", who.username, body.reason)
    audit(svc, who, "schedule.reject", str(change_id), reason=body.reason)
    return out


def _decide(svc: ServicesDep, change_id: int, state: str, by: str, reason: str | None
            ) -> ScheduleChangeOut:
    with svc.sessions.begin() as session:
        change = session.get(ScheduleChange, change_id)
        assert change is not None
        change.state, change.decided_by, change.decided_at = state, by, utcnow()
        change.reason = reason
        session.flush()
        return _change_out(change)
