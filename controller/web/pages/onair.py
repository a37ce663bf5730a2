"""Phát trực tiếp: choose villages, see the microphone's level, "Bắt đầu", speak, "Kết thúc";
and the banner every page shows while the station is live."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from protocol.urls import fm_khz

from ...auth import Principal
from ...domain.errors import DomainError
from ...errors import http_status
from ...http import ServicesDep
from ...i18n import translate
from ..render import lang_of, page, render, words

router = APIRouter(prefix="/ui", tags=["web"], include_in_schema=False)


def _page(
    request: Request,
    svc: ServicesDep,
    who: Principal,
    status_code: int = 200,
    relay: dict[str, object] | None = None,
    relay_errors: list[str] | None = None,
) -> HTMLResponse:
    return render(
        request,
        "onair.html",
        who,
        status_code=status_code,
        zones=svc.zones.names(),
        enabled=svc.onair.enabled,
        server=svc.onair.public_url,
        presets=svc.settings.relay_presets,
        relay=relay or {},
        relay_errors=relay_errors or [],
    )


@router.get("/live", response_class=HTMLResponse)
def live_page(
    request: Request, svc: ServicesDep, who: Principal = page("live.start")
) -> HTMLResponse:
    return _page(request, svc, who)


@router.post("/relay", response_class=HTMLResponse)
async def relay_now(
    request: Request, svc: ServicesDep, who: Principal = page("broadcast.create")
) -> Response:
    """Tiếp sóng ngay: the stream for N minutes to the chosen villages (a broadcaster's
    waits for approval, like a bulletin)."""
    lang = lang_of(request)
    data = await request.form()
    villages = [str(v) for v in data.getlist("village")]
    form: dict[str, object] = dict(
        title=str(data.get("title", "")).strip(),
        url=str(data.get("url", "")).strip(),
        fallback=str(data.get("fallback", "")),
        minutes=str(data.get("minutes", "")).strip(),
        villages=villages,
    )
    urls = [str(form["url"])] + [u.strip() for u in str(form["fallback"]).splitlines() if u.strip()]
    errors = []
    try:
        minutes = int(str(form["minutes"]))
        if not 1 <= minutes <= 360 or not all(
            u.startswith(("http://", "https://")) or fm_khz(u) for u in urls
        ):
            raise ValueError
    except ValueError:
        errors.append(translate("relay.bad", lang))
        minutes = 0
    if not villages:
        errors.append(translate("error.no_village", lang))
    if errors:
        return _page(request, svc, who, 422, form, errors)
    targets = ["all"] if "all" in villages else [f"zone:{v}" for v in villages]
    try:
        broadcast_id = await run_in_threadpool(
            svc.relays.relay_now, who, targets, urls[:6], minutes * 60, str(form["title"])
        )
    except DomainError as exc:
        return _page(request, svc, who, http_status(exc), form, [words(exc, lang)])
    return RedirectResponse(f"/ui/broadcasts/{broadcast_id}", status_code=303)


@router.get("/live-banner", response_class=HTMLResponse)
def live_banner(
    request: Request, svc: ServicesDep, who: Principal = page("broadcast.read")
) -> HTMLResponse:
    """The header's banner (re-fetched on ``broadcasts`` and ``progress`` events)."""
    return render(request, "_live_banner.html", who)
