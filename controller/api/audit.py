"""The audit log, for admins: who did what, when, from where; filterable and exportable."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from ..db.models import AuditEntry
from .deps import ServicesDep, allow

router = APIRouter(prefix="/api/audit", tags=["audit"])


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    ts: datetime
    actor: str
    action: str
    target: str
    outcome: str
    ip: str
    detail: dict[str, Any]


def audit_rows(svc: ServicesDep, actor: str | None, action: str | None, limit: int
               ) -> list[AuditOut]:
    """Newest first; ``action`` is a prefix (``broadcast.`` → every broadcast action)."""
    with svc.sessions() as session:
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if actor:
            query = query.where(AuditEntry.actor == actor)
        if action:
            query = query.where(AuditEntry.action.startswith(action))
        return [AuditOut.model_validate(r) for r in session.scalars(query)]


@router.get("", response_model=list[AuditOut], dependencies=[allow("audit.read")])
def list_audit(svc: ServicesDep, actor: str | None = None,
               action: str | None = Query(None, description="prefix, e.g. 'broadcast.'"),
               limit: int = Query(500, ge=1, le=100_000)) -> list[AuditOut]:
    """Newest first."""
    return audit_rows(svc, actor, action, limit)


@router.get("/export.csv", dependencies=[allow("audit.read")],
            responses={200: {"content": {"text/csv": {}}}})
def export_audit(svc: ServicesDep, actor: str | None = None, action: str | None = None,
                 limit: int = Query(100_000, ge=1, le=1_000_000)) -> Response:
    """The log as CSV (UTF-8 with BOM, so a spreadsheet shows Vietnamese correctly)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["id", "ts", "actor", "action", "target", "outcome", "ip", "detail"])
    for r in reversed(audit_rows(svc, actor, action, limit)):
        writer.writerow([r.id, r.ts.isoformat(), r.actor, r.action, r.target, r.outcome, r.ip,
                         json.dumps(r.detail, ensure_ascii=False, sort_keys=True)])
    return Response("\ufeff" + buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="loalang-audit.csv"'})
