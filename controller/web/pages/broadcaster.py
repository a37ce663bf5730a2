"""The broadcaster's pages: today, the week, sending a bulletin, following one."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from protocol.messages import Priority, utcnow

from ...auth import Principal
from ...container import Services
from ...domain.broadcast import BroadcastState
from ...domain.errors import DomainError
from ...errors import http_status
from ...http import ServicesDep
from ...i18n import translate
from ...services.broadcasts import BroadcastRequest
from .. import svg
from ..render import lang_of, page, render, words

router = APIRouter(prefix="/ui", tags=["web"], include_in_schema=False)

COVERAGE_COLOURS = {"played": "#1b7a3a", "interrupted": "#b8860b", "failed": "#b3261e",
                    "missed": "#6b6b6b"}


# --- view builders ----------------------------------------------------------------------------


def _today(svc: Services) -> tuple[datetime, datetime]:
    tz = ZoneInfo(svc.settings.timezone)
    start = datetime.combine(utcnow().astimezone(tz).date(), datetime.min.time(), tz)
    return start, start + timedelta(days=1)


def home_view(svc: Services, lang: str) -> dict[str, Any]:
    """Today's programme, the last bulletins, and whether each village heard the latest."""
    start, end = _today(svc)
    recent = svc.broadcasts.list(limit=10, by_creation=True)
    zones = svc.zones.names()
    last_by_zone: dict[str, dict[str, int]] = {}
    for b in svc.broadcasts.list(limit=200, states=(BroadcastState.sent, BroadcastState.done)):
        for target in b.targets:
            zone = target.partition(":")[2] if target.startswith("zone:") else None
            keys = [zone] if zone else (list(zones) if target == "all" else [])
            for key in keys:
                if key in zones and key not in last_by_zone:
                    last_by_zone[key] = b.summary
    coverage = svg.stacked_bars([(zones[z], last_by_zone[z]) for z in zones if z in last_by_zone],
                                COVERAGE_COLOURS, translate("home.villages", lang))
    return dict(plan=svc.programme.between(start, end), recent=recent, coverage=coverage)


def week_view(svc: Services) -> dict[str, Any]:
    """The next 7 days as a calendar: one column per day."""
    tz = ZoneInfo(svc.settings.timezone)
    today = utcnow().astimezone(tz).date()
    start = datetime.combine(today, datetime.min.time(), tz)
    days: list[dict[str, Any]] = [dict(date=today + timedelta(days=i), items=[])
                                  for i in range(7)]
    for item in svc.programme.between(start, start + timedelta(days=7)):
        days[(item.start.date() - today).days]["items"].append(item)
    return dict(days=days)


def broadcast_view(svc: Services, broadcast_id: str) -> dict[str, Any]:
    """A bulletin and where it stands on every loudspeaker, by name."""
    b = svc.broadcasts.get(broadcast_id)
    media = svc.media.get(b.media_sha256)
    names = svc.devices.names()
    return dict(b=dict(
        id=b.id, title=b.title, state=b.state, start_at=b.start_at, priority=b.priority,
        targets=b.targets, created_by=b.created_by, approved_by=b.approved_by,
        reason=b.rejected_reason, sha=media.sha256, duration_s=round(media.duration_ms / 1000, 1),
        loudness_in=media.loudness_in_lufs, loudness_out=media.loudness_out_lufs,
        summary=b.summary, pending=b.commands_pending,
        deliveries=[dict(device=d.device_id, name=names.get(d.device_id, d.device_id),
                         state=d.state, reason=d.reason, started_at=d.started_at,
                         online=d.device_status) for d in b.deliveries]))


# --- pages ------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request, svc: ServicesDep, who: Principal = page("broadcast.read")
         ) -> HTMLResponse:
    """Today: what plays where (schedules and broadcasts), and whether the last one played."""
    return render(request, "home.html", who, **home_view(svc, lang_of(request)))


@router.get("/week", response_class=HTMLResponse)
def week(request: Request, svc: ServicesDep, who: Principal = page("schedule.read")
         ) -> HTMLResponse:
    return render(request, "week.html", who, **week_view(svc))


@router.get("/send", response_class=HTMLResponse)
def send_form(request: Request, svc: ServicesDep, who: Principal = page("broadcast.create")
              ) -> HTMLResponse:
    return render(request, "send.html", who, zones=svc.zones.names(), form={}, errors=[])


@router.post("/send", response_class=HTMLResponse)
async def send_submit(request: Request, svc: ServicesDep,
                      who: Principal = page("broadcast.create")) -> Response:
    """Upload (or recording) + villages + time → a broadcast; bad input changes nothing."""
    lang = lang_of(request)
    form = await request.form(max_files=1, max_fields=100)
    title = str(form.get("title", "")).strip()
    villages = [str(v) for v in form.getlist("village")]
    when = str(form.get("when", "now"))
    at_text = str(form.get("at", ""))
    priority = str(form.get("priority", "normal"))
    upload = form.get("file")
    errors = []
    if not title:
        errors.append(translate("error.title_empty", lang))
    if not villages:
        errors.append(translate("error.no_village", lang))
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors.append(translate("error.no_file", lang))
    start_at = None
    if when == "at":
        try:
            tz = ZoneInfo(svc.settings.timezone)
            start_at = datetime.fromisoformat(at_text).replace(tzinfo=tz)
            if start_at <= utcnow():
                errors.append(translate("broadcast.past_time", lang))
        except ValueError:
            errors.append(translate("error.bad_time", lang))
    if priority not in {p.value for p in Priority} - {"live"}:
        priority = "normal"
    context = dict(zones=svc.zones.names(), form=dict(
        title=title, villages=villages, when=when, at=at_text, priority=priority))
    if errors:
        return render(request, "send.html", who, status_code=422, errors=errors, **context)
    assert isinstance(upload, UploadFile)
    try:
        src = await svc.media.receive(upload, upload.filename or "")
        try:
            media, _ = await run_in_threadpool(svc.media.ingest, who, src,
                                               upload.filename or "", title)
        finally:
            src.unlink(missing_ok=True)
        broadcast_id = await run_in_threadpool(
            svc.broadcasts.create, BroadcastRequest(
                media_sha256=media.sha256, targets=[f"zone:{v}" for v in villages],
                start_at=start_at, priority=Priority(priority), title=title),
            who, draft=form.get("action") == "draft")
    except DomainError as exc:
        return render(request, "send.html", who, status_code=http_status(exc),
                      errors=[words(exc, lang)], **context)
    return RedirectResponse(f"/ui/broadcasts/{broadcast_id}", status_code=303)


@router.get("/broadcasts/{broadcast_id}", response_class=HTMLResponse)
def broadcast_page(broadcast_id: str, request: Request, svc: ServicesDep,
                   who: Principal = page("broadcast.read")) -> HTMLResponse:
    return render(request, "broadcast.html", who, **broadcast_view(svc, broadcast_id))


@router.get("/broadcasts/{broadcast_id}/progress", response_class=HTMLResponse)
def broadcast_progress(broadcast_id: str, request: Request, svc: ServicesDep,
                       who: Principal = page("broadcast.read")) -> HTMLResponse:
    return render(request, "_progress.html", who, **broadcast_view(svc, broadcast_id))
