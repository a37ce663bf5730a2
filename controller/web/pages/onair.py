"""Phát trực tiếp: choose villages, see the microphone's level, "Bắt đầu", speak, "Kết thúc";
and the banner every page shows while the station is live."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ...auth import Principal, allowed
from ...http import ServicesDep
from ..render import page, render

router = APIRouter(prefix="/ui", tags=["web"], include_in_schema=False)


def on_air_view(svc: ServicesDep, who: Principal | None) -> list[dict[str, object]]:
    """What is live now, and whether this person may end it."""
    if who is None:
        return []
    return [dict(id=b.id, title=b.title, targets=b.targets, start_at=b.start_at,
                 source=b.stream.source if b.stream else None,
                 mine=b.created_by == who.username,
                 can_end=b.created_by == who.username or allowed(who.roles, "live.end_any"))
            for b in svc.broadcasts.on_air()]


@router.get("/live", response_class=HTMLResponse)
def live_page(request: Request, svc: ServicesDep,
              who: Principal = page("live.start")) -> HTMLResponse:
    return render(request, "onair.html", who, zones=svc.zones.names(),
                  enabled=svc.onair.enabled, server=svc.onair.public_url)


@router.get("/live-banner", response_class=HTMLResponse)
def live_banner(request: Request, svc: ServicesDep,
                who: Principal = page("broadcast.read")) -> HTMLResponse:
    """The header's banner (re-fetched on ``broadcasts`` and ``progress`` events)."""
    return render(request, "_live_banner.html", who)
