"""What people were told (e-mail, webhook, the web UI), once per condition and channel."""

from __future__ import annotations

from fastapi import APIRouter, Query

from ..http import ServicesDep, allow
from ..services.notices import NoticeOut

router = APIRouter(prefix="/api/notices", tags=["notices"])


@router.get("", response_model=list[NoticeOut], dependencies=[allow("alarm.read")])
def list_notices(svc: ServicesDep, limit: int = Query(500, ge=1, le=5000)) -> list[NoticeOut]:
    """Every channel's record, newest first: sent, failed (retried), suppressed, shown."""
    return svc.notices.log(limit)
