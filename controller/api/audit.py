"""The audit log, for admins: who did what, when, from where; filterable and exportable."""

from __future__ import annotations

import csv
import io
import json

from fastapi import APIRouter, Query
from fastapi.responses import Response

from ..http import ServicesDep, allow
from ..services.views import AuditOut

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("", response_model=list[AuditOut], dependencies=[allow("audit.read")])
def list_audit(
    svc: ServicesDep,
    actor: str | None = None,
    action: str | None = Query(None, description="prefix, e.g. 'broadcast.'"),
    limit: int = Query(500, ge=1, le=100_000),
) -> list[AuditOut]:
    """Newest first."""
    return svc.audit.rows(actor, action, limit)


@router.get(
    "/export.csv",
    dependencies=[allow("audit.read")],
    responses={200: {"content": {"text/csv": {}}}},
)
def export_audit(
    svc: ServicesDep,
    actor: str | None = None,
    action: str | None = None,
    limit: int = Query(100_000, ge=1, le=1_000_000),
) -> Response:
    """The log as CSV (UTF-8 with BOM, so a spreadsheet shows Vietnamese correctly)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["id", "ts", "actor", "action", "target", "outcome", "ip", "detail"])
    for r in reversed(svc.audit.rows(actor, action, limit)):
        writer.writerow(
            [
                r.id,
                r.ts.isoformat(),
                r.actor,
                r.action,
                r.target,
                r.outcome,
                r.ip,
                json.dumps(r.detail, ensure_ascii=False, sort_keys=True),
            ]
        )
    return Response(
        "\ufeff" + buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="loalang-audit.csv"'},
    )
