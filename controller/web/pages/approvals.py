"""The approver's queue: held broadcasts (and emergencies waiting for a second person) and
proposed schedule changes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from protocol.messages import Priority

from ...auth import Principal
from ...container import Services
from ...domain.broadcast import BroadcastState
from ...http import ServicesDep
from ..render import lang_of, page, render
from .routine import schedule_changes_view

router = APIRouter(prefix="/ui", tags=["web"], include_in_schema=False)


def approvals_view(svc: Services, lang: str) -> dict[str, Any]:
    """Emergencies waiting for a second person first (an approver on a phone confirms one
    without scrolling past normal bulletins), then by priority, oldest first."""
    held = sorted(
        svc.broadcast_queries.list(limit=500, states=tuple(BroadcastState.held())),
        key=lambda b: (
            b.state != BroadcastState.pending_confirmation,
            -Priority(b.priority).rank,
            b.created_at,
        ),
    )
    texts = svc.media.texts([b.media_sha256 for b in held if b.media_sha256])
    return dict(
        held=[
            dict(
                id=b.id,
                title=b.title,
                state=b.state,
                start_at=b.start_at,
                priority=b.priority,
                created_by=b.created_by,
                targets=b.targets,
                sha=b.media_sha256,
                text=texts.get(b.media_sha256 or ""),
                duration_s=round(b.duration_ms / 1000, 1),
            )
            for b in held
        ],
        changes=schedule_changes_view(svc, lang, svc.media.titles()),
    )


@router.get("/approvals", response_class=HTMLResponse)
def approvals(
    request: Request, svc: ServicesDep, who: Principal = page("broadcast.read")
) -> HTMLResponse:
    return render(request, "approvals.html", who, **approvals_view(svc, lang_of(request)))
