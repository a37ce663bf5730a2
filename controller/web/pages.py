"""The web UI: server-rendered pages for broadcasters, approvers, technicians and admins.

Every page names a permission like the API routes do (deny by default); without a login the
browser is sent to the login page. Changes go through the JSON API (with the session's CSRF
token) or through the forms here; live parts refresh on server-sent events.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
import time
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select
from starlette.datastructures import UploadFile

from protocol.messages import Priority, utcnow
from protocol.topics import ID_PATTERN

from ..api.devices import active_alarm_counts
from ..api.deps import SESSION_COOKIE, Allow, Principal, ServicesDep, audit, client_ip, \
    principal_for
from ..api.media import ingest_file, save_upload
from ..api.session import attempt_login, end_session, set_session_cookie
from ..auth import allowed, hold_for
from ..broadcasts import BroadcastRequest
from ..db.models import (Alarm, AuditEntry, Broadcast, Device, DeviceEvent, DeviceTelemetry,
                         Media, ScheduleChange, Zone)
from ..domain.delivery import DeliveryState, summarise
from ..errors import ApiError, api_error_response
from ..fleet import history as fleet_history
from . import routine, svg
from .strings import LANGUAGES, state as state_words, translate

router = APIRouter(prefix="/ui", tags=["web"], include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

NAV = [("nav.home", "/ui/", "broadcast.read"), ("nav.week", "/ui/week", "schedule.read"),
       ("nav.routine", "/ui/routine", "schedule.read"),
       ("nav.send", "/ui/send", "broadcast.create"),
       ("nav.approvals", "/ui/approvals", "broadcast.read"),
       ("nav.fleet", "/ui/fleet", "device.read"), ("nav.alarms", "/ui/alarms", "alarm.read"),
       ("nav.setup", "/ui/setup", "device.manage"), ("nav.users", "/ui/users", "user.manage"),
       ("nav.audit", "/ui/audit", "audit.read")]
DEVICE_STATES = ("online", "offline", "stopped")
IDENT = re.compile(f"^{ID_PATTERN}$")
COVERAGE_COLOURS = {"played": "#1b7a3a", "interrupted": "#b8860b", "failed": "#b3261e",
                    "missed": "#6b6b6b"}


class LoginRequired(Exception):
    """No session: the browser goes to the login page."""


class PageForbidden(Exception):
    def __init__(self, principal: Principal, permission: str):
        self.principal = principal
        self.permission = permission


class Page(Allow):
    """``Depends(Page("device.read"))``: like ``Allow``, but a browser without a session is
    redirected to log in, and a refusal is a page, not JSON."""

    async def __call__(self, request: Request, svc: ServicesDep) -> Principal:  # type: ignore[override]
        csrf = request.headers.get("x-csrf-token")
        limit = svc.settings.max_upload_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit + 64 * 1024:
            raise ApiError(413, "upload.too_large", limit_mb=limit // (1024 * 1024))
        if csrf is None and request.method == "POST" and request.cookies.get(SESSION_COOKIE):
            form = await request.form()  # cached: the page reads the same form again
            csrf = str(form.get("csrf", ""))
        return await run_in_threadpool(self._check, request, svc, csrf)

    def _check(self, request: Request, svc: ServicesDep, csrf: str | None) -> Principal:
        principal = principal_for(request, svc, csrf)
        if principal is None:
            raise LoginRequired()
        if not allowed(principal.roles, self.permission):
            audit(svc, principal, "auth.forbidden", f"{request.method} {request.url.path}",
                  "denied", permission=self.permission)
            raise PageForbidden(principal, self.permission)
        return principal


def page(permission: str) -> Any:
    return Depends(Page(permission))


def lang_of(request: Request) -> str:
    lang = request.cookies.get("lang", "vi")
    return lang if lang in LANGUAGES else "vi"


def render(request: Request, name: str, who: Principal | None, status_code: int = 200,
           headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    lang = lang_of(request)
    svc = request.app.state.services
    csrf = getattr(request.state, "csrf", "") if who is not None else ""
    nav = [(translate(k, lang), href) for k, href, perm in NAV
           if who is not None and allowed(who.roles, perm)]
    tz = ZoneInfo(svc.settings.timezone)

    def local(value: datetime | None, fmt: str = "%d/%m %H:%M") -> str:
        return value.astimezone(tz).strftime(fmt) if value else "—"

    places = PlaceNames(svc, lang)

    return templates.TemplateResponse(request, name, dict(
        t=lambda key, **kw: translate(key, lang, **kw), st=lambda s: state_words(s, lang),
        lang=lang, who=who, csrf=csrf, nav=nav, local=local, place=places.target,
        zone_name=places.zone, device_state=lambda status: translate(
            f"state.{status}" if status in DEVICE_STATES else "state.unknown", lang),
        can=lambda perm: who is not None and allowed(who.roles, perm),
        **context),
        status_code=status_code, headers=headers)


class PlaceNames:
    """Targets in words a broadcaster knows: village and loudspeaker names, not ids.

    Reads the names on first use, once per page."""

    def __init__(self, svc: Any, lang: str):
        self._svc, self._lang = svc, lang
        self._zones: dict[str, str] | None = None
        self._devices: dict[str, str] = {}

    def _load(self) -> dict[str, str]:
        if self._zones is None:
            with self._svc.sessions() as session:
                self._zones = _zone_names(session)
                self._devices = dict(session.execute(select(Device.id, Device.name)).all())
        return self._zones

    def zone(self, zone_id: str | Sequence[str]) -> str:
        if not isinstance(zone_id, str):
            return ", ".join(self.zone(z) for z in zone_id)
        return self._load().get(zone_id, zone_id)

    def target(self, target: str | Sequence[str]) -> str:
        """``all`` / ``zone:ID`` / ``device:ID`` → "Tất cả các thôn" / village / loudspeaker;
        a list → the names joined."""
        if not isinstance(target, str):
            return ", ".join(self.target(t) for t in target)
        if target == "all":
            return translate("target.all", self._lang)
        kind, _, ident = target.partition(":")
        if kind == "zone":
            return self.zone(ident)
        self._load()
        return self._devices.get(ident, ident)


def install(app: Any) -> None:
    """Routes, static files and the pages for missing or insufficient rights."""
    from fastapi.staticfiles import StaticFiles

    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=Path(__file__).parent / "static"),
              name="static")

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse(f"/ui/login?next={request.url.path}", status_code=303)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        """On a page (not found, ...) the refusal is a page; the JSON API keeps its JSON."""
        if not request.url.path.startswith("/ui/"):
            return api_error_response(request, exc)
        message = translate(exc.key, lang_of(request), **exc.params)
        return render(request, "error.html", None, status_code=exc.status, message=message)

    @app.exception_handler(PageForbidden)
    async def _forbidden(request: Request, exc: PageForbidden) -> HTMLResponse:
        return render(request, "forbidden.html", exc.principal, status_code=403)

    @app.get("/", include_in_schema=False)
    def _root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=303)


# --- session --------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/ui/") -> HTMLResponse:
    return render(request, "login.html", None, next=next if next.startswith("/ui") else "/ui/")


@router.post("/login", response_class=HTMLResponse)
async def login_submit(request: Request, svc: ServicesDep) -> Response:
    form = await request.form()
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    target = str(form.get("next", "/ui/"))
    try:
        result = await run_in_threadpool(attempt_login, svc, username, password,
                                         client_ip(request))
    except ApiError as exc:
        return render(request, "login.html", None, status_code=exc.status, next=target,
                      error=translate(exc.key, lang_of(request), **exc.params),
                      username=username)
    response = RedirectResponse(target if target.startswith("/ui") else "/ui/", status_code=303)
    set_session_cookie(svc, response, result)
    return response


@router.post("/logout")
def logout(request: Request, svc: ServicesDep, who: Principal = page("account.self")
           ) -> Response:
    response = RedirectResponse("/ui/login", status_code=303)
    end_session(svc, request, response)
    return response


@router.get("/lang/{code}")
def set_language(code: str, request: Request) -> RedirectResponse:
    back = request.headers.get("referer") or "/ui/"
    response = RedirectResponse(back, status_code=303)
    if code in LANGUAGES:
        response.set_cookie("lang", code, max_age=365 * 86400, samesite="lax", path="/")
    return response


# --- broadcaster --------------------------------------------------------------------------


def _zone_names(session: Any) -> dict[str, str]:
    return dict(session.execute(select(Zone.id, Zone.name).order_by(Zone.id)).all())


@router.get("/", response_class=HTMLResponse)
def home(request: Request, svc: ServicesDep, who: Principal = page("broadcast.read")
         ) -> HTMLResponse:
    """Today: what plays where (schedules and broadcasts), and whether the last one played."""
    tz = ZoneInfo(svc.settings.timezone)
    day_start = datetime.combine(utcnow().astimezone(tz).date(), datetime.min.time(), tz)
    today = _programme(svc, day_start, day_start + timedelta(days=1))
    with svc.sessions() as session:
        recent = session.scalars(select(Broadcast).order_by(Broadcast.created_at.desc())
                                 .limit(10)).all()
        zones = _zone_names(session)
        last_by_zone: dict[str, dict[str, int]] = {}
        for b in session.scalars(select(Broadcast).where(Broadcast.state.in_(("sent", "done")))
                                 .order_by(Broadcast.start_at.desc()).limit(200)):
            for target in b.targets:
                zone = target.partition(":")[2] if target.startswith("zone:") else None
                keys = [zone] if zone else (list(zones) if target == "all" else [])
                for key in keys:
                    if key in zones and key not in last_by_zone:
                        last_by_zone[key] = summarise(
                            [DeliveryState(d.state) for d in b.deliveries])
        recent_rows = [dict(id=b.id, title=b.title, state=b.state, start_at=b.start_at,
                            priority=b.priority, created_by=b.created_by,
                            summary=summarise([DeliveryState(d.state) for d in b.deliveries]))
                       for b in recent]
    coverage = svg.stacked_bars([(zones[z], last_by_zone[z]) for z in zones if z in last_by_zone],
                                COVERAGE_COLOURS, translate("home.villages", lang_of(request)))
    return render(request, "home.html", who, plan=today, recent=recent_rows, coverage=coverage)


def _programme(svc: ServicesDep, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """What plays in [start, end): scheduled occurrences (by their schedule's title) and
    one-off broadcasts (with their state), in time order, in local time."""
    tz = ZoneInfo(svc.settings.timezone)
    stored = svc.schedules.current()
    rows, _ = svc.schedules.preview(max(start, utcnow()), end, stored)
    titles = {spec.name: spec.title or spec.name for spec in stored.schedules}
    items = []
    for row in rows:
        o = row.occurrence
        items.append(dict(start=o.start.astimezone(tz), title=titles.get(o.schedule, o.schedule),
                          targets=list(o.targets), priority=o.priority, kind="schedule",
                          schedule=o.schedule))
    with svc.sessions() as session:
        for b in session.scalars(select(Broadcast).where(
                Broadcast.start_at >= start, Broadcast.start_at < end,
                Broadcast.schedule.is_(None),
                Broadcast.state.notin_(("cancelled", "rejected")))):
            items.append(dict(start=b.start_at.astimezone(tz), title=b.title or b.id,
                              targets=list(b.targets), priority=b.priority, kind="broadcast",
                              id=b.id, state=b.state))
    return sorted(items, key=lambda item: item["start"])


@router.get("/week", response_class=HTMLResponse)
def week(request: Request, svc: ServicesDep, who: Principal = page("schedule.read")
         ) -> HTMLResponse:
    """The week's programme as a calendar: one column per day, what plays when and where,
    scheduled occurrences and one-off broadcasts together."""
    tz = ZoneInfo(svc.settings.timezone)
    today = utcnow().astimezone(tz).date()
    start = datetime.combine(today, datetime.min.time(), tz)
    days: list[dict[str, Any]] = [dict(date=today + timedelta(days=i), items=[])
                                  for i in range(7)]
    for item in _programme(svc, start, start + timedelta(days=7)):
        days[(item["start"].date() - today).days]["items"].append(item)
    return render(request, "week.html", who, days=days)


@router.get("/send", response_class=HTMLResponse)
def send_form(request: Request, svc: ServicesDep, who: Principal = page("broadcast.create")
              ) -> HTMLResponse:
    with svc.sessions() as session:
        zones = _zone_names(session)
    return render(request, "send.html", who, zones=zones, form={}, errors=[])


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
    with svc.sessions() as session:
        zones = _zone_names(session)
    context = dict(zones=zones, form=dict(title=title, villages=villages, when=when,
                                          at=at_text, priority=priority))
    if errors:
        return render(request, "send.html", who, status_code=422, errors=errors, **context)
    assert isinstance(upload, UploadFile)
    try:
        src = await save_upload(svc, upload, svc.settings.max_upload_bytes)
        try:
            media, created = await run_in_threadpool(
                ingest_file, svc, src, src.stat().st_size, upload.filename or "", title)
        finally:
            src.unlink(missing_ok=True)
        if created:
            await run_in_threadpool(audit, svc, who, "media.upload", media.sha256,
                                    filename=upload.filename, duration_ms=media.duration_ms)
        hold = "draft" if form.get("action") == "draft" else \
            hold_for(who.roles, priority == "emergency")
        broadcast_id = await run_in_threadpool(svc.broadcasts.create, BroadcastRequest(
            media_sha256=media.sha256, targets=[f"zone:{v}" for v in villages],
            start_at=start_at, priority=Priority(priority), title=title,
            created_by=who.username, hold=hold))
    except ApiError as exc:
        return render(request, "send.html", who, status_code=exc.status,
                      errors=[translate(exc.key, lang, **exc.params)], **context)
    await run_in_threadpool(audit, svc, who, "broadcast.create", broadcast_id,
                            media=media.sha256, targets=villages, priority=priority, held=hold)
    return RedirectResponse(f"/ui/broadcasts/{broadcast_id}", status_code=303)


def _broadcast_context(svc: ServicesDep, broadcast_id: str) -> dict[str, Any]:
    with svc.sessions() as session:
        b = session.get(Broadcast, broadcast_id)
        if b is None:
            raise ApiError(404, "broadcast.not_found")
        names = dict(session.execute(select(Device.id, Device.name)).all())
        status = dict(session.execute(select(Device.id, Device.status)).all())
        media = b.media
        return dict(b=dict(
            id=b.id, title=b.title, state=b.state, start_at=b.start_at, priority=b.priority,
            targets=list(b.targets), created_by=b.created_by, approved_by=b.approved_by,
            reason=b.rejected_reason,
            sha=media.sha256, duration_s=round(media.duration_ms / 1000, 1),
            loudness_in=media.loudness_in_lufs, loudness_out=media.loudness_out_lufs,
            summary=summarise([DeliveryState(d.state) for d in b.deliveries]),
            deliveries=[dict(device=d.device_id, name=names.get(d.device_id, d.device_id),
                             state=d.state, reason=d.reason, started_at=d.started_at,
                             online=status.get(d.device_id)) for d in b.deliveries]))


@router.get("/broadcasts/{broadcast_id}", response_class=HTMLResponse)
def broadcast_page(broadcast_id: str, request: Request, svc: ServicesDep,
                   who: Principal = page("broadcast.read")) -> HTMLResponse:
    return render(request, "broadcast.html", who, **_broadcast_context(svc, broadcast_id))


@router.get("/broadcasts/{broadcast_id}/progress", response_class=HTMLResponse)
def broadcast_progress(broadcast_id: str, request: Request, svc: ServicesDep,
                       who: Principal = page("broadcast.read")) -> HTMLResponse:
    return render(request, "_progress.html", who, **_broadcast_context(svc, broadcast_id))


def _media_choices(svc: ServicesDep) -> list[dict[str, Any]]:
    with svc.sessions() as session:
        return [dict(sha=m.sha256, title=m.title or m.original_filename or m.sha256[:12],
                     duration=f"{m.duration_ms // 60000}:{m.duration_ms // 1000 % 60:02d}")
                for m in session.scalars(select(Media).order_by(Media.created_at.desc())
                                         .limit(300))]


def _media_titles(svc: ServicesDep) -> dict[str, str]:
    with svc.sessions() as session:
        return {sha: title or name for sha, title, name in session.execute(
            select(Media.sha256, Media.title, Media.original_filename))}


@router.get("/routine", response_class=HTMLResponse)
def routine_page(request: Request, svc: ServicesDep, done: str = "", name: str = "",
                 who: Principal = page("schedule.read")) -> HTMLResponse:
    """The recurring schedules in words, and the edits waiting for an approver."""
    lang = lang_of(request)
    titles = _media_titles(svc)
    schedules = [dict(name=spec.name, title=spec.title, when=routine.repetition(spec, lang),
                      targets=list(spec.targets), priority=spec.priority,
                      programme=routine.programme_words(spec, titles, lang),
                      valid=(spec.valid_from, spec.valid_until))
                 for spec in sorted(svc.schedules.current().schedules, key=lambda s: s.start)]
    notice = ""
    if done in ("saved", "deleted", "proposed", "unchanged"):
        notice = translate(f"routine.{done}", lang, name=name)
    return render(request, "routine.html", who, schedules=schedules, notice=notice,
                  pending=_schedule_changes(svc, lang, titles),
                  decided=_schedule_changes(svc, lang, titles, decided=True))


def _schedule_changes(svc: ServicesDep, lang: str, titles: dict[str, str],
                      decided: bool = False) -> list[dict[str, Any]]:
    """Schedule edits told in words (what, when, where): the pending ones, oldest first, or
    the last ten decided (with who decided and why), for approvers and editors."""
    from ..domain.schedules import ScheduleSpec

    out = []
    with svc.sessions() as session:
        query = (select(ScheduleChange).where(ScheduleChange.state != "pending")
                 .order_by(ScheduleChange.id.desc()).limit(10) if decided else
                 select(ScheduleChange).where(ScheduleChange.state == "pending")
                 .order_by(ScheduleChange.id))
        for c in session.scalars(query).all():
            item = dict(id=c.id, kind=c.kind, name=c.name, created_by=c.created_by,
                        created_at=c.created_at, state=c.state, decided_by=c.decided_by,
                        decided_at=c.decided_at, reason=c.reason, what=translate(
                            f"routine.change.{c.kind}", lang,
                            count=len(c.content.get("schedules", []))))
            if c.kind == "put":
                spec = ScheduleSpec.model_validate(c.content)
                item.update(title=spec.title, when=routine.repetition(spec, lang),
                            targets=list(spec.targets),
                            programme=routine.programme_words(spec, titles, lang),
                            listen=routine.media_of(spec))
            out.append(item)
    return out


def _routine_form_page(request: Request, svc: ServicesDep, who: Principal,
                       form: routine.RoutineForm, editing: bool, errors: list[str],
                       status_code: int = 200) -> HTMLResponse:
    with svc.sessions() as session:
        zones = _zone_names(session)
    return render(request, "routine_edit.html", who, status_code=status_code, form=form,
                  editing=editing, errors=errors, zones=zones, media=_media_choices(svc),
                  weekdays=routine.WEEKDAYS, priorities=routine.PRIORITIES)


@router.get("/routine/new", response_class=HTMLResponse)
def routine_new(request: Request, svc: ServicesDep, who: Principal = page("schedule.write")
                ) -> HTMLResponse:
    blank = routine.RoutineForm(start="06:00", days=[])
    return _routine_form_page(request, svc, who, blank, editing=False, errors=[])


def _stored_spec(svc: ServicesDep, name: str) -> Any:
    for spec in svc.schedules.current().schedules:
        if spec.name == name:
            return spec
    raise ApiError(404, "schedule.not_found", name=name)


@router.get("/routine/{name}/edit", response_class=HTMLResponse)
def routine_edit(name: str, request: Request, svc: ServicesDep,
                 who: Principal = page("schedule.write")) -> HTMLResponse:
    form = routine.form_from_spec(_stored_spec(svc, name))
    return _routine_form_page(request, svc, who, form, editing=True, errors=[])


@router.post("/routine", response_class=HTMLResponse)
async def routine_save(request: Request, svc: ServicesDep,
                       who: Principal = page("schedule.write")) -> Response:
    """Check the form, then apply it (approvers) or propose it (broadcasters); any problem is
    shown on the form and nothing changes."""
    from ..api.schedules import change

    lang = lang_of(request)
    data = await request.form()

    def text(key: str) -> str:
        return str(data.get(key, ""))

    editing = text("original") != ""
    form = routine.RoutineForm(
        name=text("original") if editing else text("name").strip(), title=text("title"),
        villages=[str(v) for v in data.getlist("villages")], priority=text("priority"),
        start=text("start"), repeat=text("repeat"), days=[str(d) for d in data.getlist("days")],
        date=text("date"), rrule=text("rrule"), valid_from=text("valid_from"),
        valid_until=text("valid_until"), except_dates=text("except_dates"),
        slot_minutes=text("slot_minutes"),
        items=[dict(kind="relay" if text(f"item-{i}") == "relay" else
                    "media" if text(f"item-{i}") else "", sha=text(f"item-{i}")
                    if text(f"item-{i}") != "relay" else "", url=text(f"url-{i}"),
                    minutes=text(f"minutes-{i}"), fallback=text(f"fallback-{i}"))
               for i in sorted(int(k[5:]) for k in data if k.startswith("item-")
                               and k[5:].isdigit())[:100]])
    form.items = [row for row in form.items if row["kind"]]
    stored = {s.name: s for s in (await run_in_threadpool(svc.schedules.current)).schedules}
    try:
        if editing and form.name not in stored:
            raise ApiError(404, "schedule.not_found", name=form.name)
        if not editing and form.name in stored:
            raise routine.FormProblems([translate("routine.exists", lang, name=form.name)])
        keep = stored.get(form.name) if editing else None
        spec = routine.spec_from_form(form, lang, keep)
        status, out = await run_in_threadpool(change, svc, who, "put", spec.name,
                                              spec.model_dump(mode="json"))
    except routine.FormProblems as exc:
        return _routine_form_page(request, svc, who, form, editing, exc.messages, 422)
    if status == 422:
        problems = [f"{translate('routine.problem.' + p.code, lang)}"
                    f"{'' if p.schedule == spec.name else ' (' + p.schedule + ')'}: {p.message}"
                    for p in out.problems]
        return _routine_form_page(request, svc, who, form, editing, problems, 422)
    done = "proposed" if status == 202 else ("saved" if out.applied else "unchanged")
    return RedirectResponse(f"/ui/routine?done={done}&name={spec.name}", status_code=303)


@router.post("/routine/{name}/delete", response_class=HTMLResponse)
def routine_delete(name: str, request: Request, svc: ServicesDep,
                   who: Principal = page("schedule.write")) -> Response:
    from ..api.schedules import change

    status, _ = change(svc, who, "delete", name, {})
    done = "proposed" if status == 202 else "deleted"
    return RedirectResponse(f"/ui/routine?done={done}&name={name}", status_code=303)


# --- approver -----------------------------------------------------------------------------


@router.get("/approvals", response_class=HTMLResponse)
def approvals(request: Request, svc: ServicesDep, who: Principal = page("broadcast.read")
              ) -> HTMLResponse:
    with svc.sessions() as session:
        held = [dict(id=b.id, title=b.title, state=b.state, start_at=b.start_at,
                     priority=b.priority, created_by=b.created_by, targets=list(b.targets),
                     sha=b.media_sha256, duration_s=round(b.media.duration_ms / 1000, 1))
                for b in session.scalars(select(Broadcast).where(
                    Broadcast.state.in_(("pending_approval", "pending_confirmation")))
                    .order_by(Broadcast.created_at))]
    changes = _schedule_changes(svc, lang_of(request), _media_titles(svc))
    return render(request, "approvals.html", who, held=held, changes=changes)


# --- technician ---------------------------------------------------------------------------


def _fleet(svc: ServicesDep, zone: str | None, state: str | None) -> list[dict[str, Any]]:
    with svc.sessions() as session:
        alarms = active_alarm_counts(session)
        out = []
        for d in session.scalars(select(Device).where(Device.retired.is_(False))
                                 .order_by(Device.id)):
            zones = sorted(z.id for z in d.zones)
            if zone and zone not in zones:
                continue
            if state and d.status != state:
                continue
            health = d.last_health or {}
            out.append(dict(id=d.id, name=d.name, zones=zones, status=d.status,
                            status_at=d.status_at, last_seen_at=d.last_seen_at,
                            alarms=alarms.get(d.id, 0), hw=health.get("hardware") or {},
                            net=health.get("network") or {}, load=health.get("load_1m"),
                            lat=d.latitude, lon=d.longitude))
        return out


@router.get("/fleet", response_class=HTMLResponse)
def fleet(request: Request, svc: ServicesDep, zone: str | None = None, state: str | None = None,
          who: Principal = page("device.read")) -> HTMLResponse:
    devices = _fleet(svc, zone or None, state or None)
    with svc.sessions() as session:
        zones = _zone_names(session)
    lang = lang_of(request)
    tz = ZoneInfo(svc.settings.timezone)
    ratio = [(ts.astimezone(tz), value) for ts, value in fleet_history.ratio_points(
        fleet_history.samples(svc.sessions, utcnow() - timedelta(days=7)))]
    ratio_chart = svg.line_chart(ratio, translate("fleet.online_ratio", lang), " %", (0, 100))
    every = svc.settings.fleet_sample_s
    return render(request, "fleet.html", who, devices=devices, zones=zones, zone=zone or "",
                  state=state or "", cluster_map=_cluster_map(devices, lang),
                  ratio_chart=ratio_chart, ratio_now=round(ratio[-1][1]) if ratio else None,
                  ratio_points=len(ratio), sample_every=f"{every:g} s" if every < 60
                  else f"{every / 60:g} {translate('unit.minutes', lang)}")


def _cluster_map(devices: list[dict[str, Any]], lang: str) -> str:
    return svg.cluster_map([(d["name"], d["lat"], d["lon"], d["status"]) for d in devices],
                           translate("fleet.map", lang))


@router.get("/fleet/table", response_class=HTMLResponse)
def fleet_table(request: Request, svc: ServicesDep, zone: str | None = None,
                state: str | None = None, who: Principal = page("device.read")) -> HTMLResponse:
    devices = _fleet(svc, zone or None, state or None)
    return render(request, "_fleet_table.html", who, devices=devices,
                  cluster_map=_cluster_map(devices, lang_of(request)))


@router.get("/devices/{device_id}", response_class=HTMLResponse)
def device_page(device_id: str, request: Request, svc: ServicesDep,
                who: Principal = page("device.read")) -> HTMLResponse:
    lang = lang_of(request)
    since = utcnow() - timedelta(days=2)
    with svc.sessions() as session:
        device = session.get(Device, device_id)
        if device is None:
            raise ApiError(404, "device.not_found", id=device_id)
        rows = session.scalars(select(DeviceTelemetry).where(
            DeviceTelemetry.device_id == device_id, DeviceTelemetry.ts >= since)
            .order_by(DeviceTelemetry.ts)).all()
        plays = session.scalars(select(DeviceEvent).where(
            DeviceEvent.device_id == device_id,
            DeviceEvent.type.in_(("playback.finished", "playback.failed")))
            .order_by(DeviceEvent.ts.desc()).limit(20)).all()
        info = dict(id=device.id, name=device.name, status=device.status,
                    status_at=device.status_at, health=device.last_health or {},
                    zones=sorted(z.id for z in device.zones), volume=device.volume,
                    lat=device.latitude, lon=device.longitude, retired=device.retired)
        all_zones = _zone_names(session)
        titles = dict(session.execute(select(Broadcast.id, Broadcast.title).where(
            Broadcast.id.in_({p.play_id for p in plays if p.play_id}))).all())
        play_rows = [dict(ts=p.ts, played=p.type == "playback.finished"
                          and not p.payload.get("interrupted"),
                          title=titles.get(p.play_id) or p.play_id, payload=p.payload,
                          broadcast=p.play_id if p.play_id in titles else None)
                     for p in plays]
    tz = ZoneInfo(svc.settings.timezone)

    def series(attr: str) -> list[tuple[datetime, float]]:
        return [(r.ts.astimezone(tz), float(getattr(r, attr))) for r in rows
                if getattr(r, attr) is not None]

    charts = [(translate(key, lang), svg.line_chart(series(attr), translate(key, lang), unit))
              for attr, key, unit in (("load_1m", "device.load", ""),
                                      ("battery_v", "device.battery", " V"),
                                      ("temperature_c", "device.temperature", " °C"),
                                      ("disk_free_mb", "device.disk", " MB"),
                                      ("signal_dbm", "device.signal", " dBm"))
              if len(series(attr)) > 1]
    return render(request, "device.html", who, d=info, charts=charts, plays=play_rows,
                  all_zones=all_zones, alarms=_open_alarms(svc, device_id))


@router.get("/alarms", response_class=HTMLResponse)
def alarms_page(request: Request, svc: ServicesDep, who: Principal = page("alarm.read")
                ) -> HTMLResponse:
    return render(request, "alarms.html", who, alarms=_open_alarms(svc))


def _open_alarms(svc: ServicesDep, device_id: str | None = None) -> list[dict[str, Any]]:
    """Alarms a technician still has to look at: active, or cleared but not acknowledged."""
    query = select(Alarm).where(Alarm.is_open())
    if device_id is not None:
        query = query.where(Alarm.device_id == device_id)
    with svc.sessions() as session:
        return [dict(id=a.id, device=a.device_id, code=a.code, key=a.key, detail=a.detail,
                     raised_at=a.raised_at, cleared_at=a.cleared_at,
                     acknowledged_by=a.acknowledged_by)
                for a in session.scalars(query.order_by(Alarm.raised_at.desc()).limit(500))]


# --- admin ----------------------------------------------------------------------------------


def _users(svc: ServicesDep) -> list[dict[str, Any]]:
    from ..db.models import User

    with svc.sessions() as session:
        return [dict(username=u.username, display_name=u.display_name, roles=list(u.roles),
                     active=u.active, last_login_at=u.last_login_at)
                for u in session.scalars(select(User).order_by(User.username))]


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, svc: ServicesDep, who: Principal = page("user.manage")
               ) -> HTMLResponse:
    return render(request, "users.html", who, users=_users(svc), errors=[], form={})


@router.post("/users", response_class=HTMLResponse)
async def users_create(request: Request, svc: ServicesDep, who: Principal = page("user.manage")
                       ) -> Response:
    """Create an account from the form; the admin chooses the first password."""
    from ..accounts import create_user
    from ..auth import Role

    lang = lang_of(request)
    form = await request.form()
    username = str(form.get("username", "")).strip()
    display_name = str(form.get("display_name", "")).strip()
    password = str(form.get("password", ""))
    roles = [str(r) for r in form.getlist("role")]
    errors = []
    if not roles:
        errors.append(translate("users.no_role", lang))
    try:
        if not errors:
            await run_in_threadpool(create_user, svc.sessions, username, password,
                                    [Role(r) for r in roles], display_name)
    except ValueError:
        errors.append(translate("users.invalid", lang))
    except ApiError as exc:
        errors.append(translate(exc.key, lang, **exc.params))
    if errors:
        return render(request, "users.html", who, status_code=422, users=_users(svc),
                      errors=errors, form=dict(username=username, display_name=display_name,
                                               roles=roles))
    await run_in_threadpool(audit, svc, who, "user.create", username, roles=roles)
    return RedirectResponse("/ui/users", status_code=303)


def _setup_context(svc: ServicesDep) -> dict[str, Any]:
    from ..api.zones import list_zones

    zones = list_zones(svc)  # with their device counts
    with svc.sessions() as session:
        devices = [dict(id=d.id, name=d.name, zones=sorted(z.id for z in d.zones),
                        status=d.status, retired=d.retired, created_at=d.created_at)
                   for d in session.scalars(select(Device).order_by(Device.retired, Device.id))]
    return dict(zones=zones, devices=devices)


@router.get("/setup", response_class=HTMLResponse)
def setup_page(request: Request, svc: ServicesDep, who: Principal = page("device.manage")
               ) -> HTMLResponse:
    """Villages and loudspeaker clusters: add, rename, register, retire."""
    return render(request, "setup.html", who, errors=[], form={}, **_setup_context(svc))


@router.post("/setup/devices", response_class=HTMLResponse)
async def setup_register(request: Request, svc: ServicesDep,
                         who: Principal = page("device.manage")) -> Response:
    """Register a cluster from the form; the answer shows its credentials once."""
    from ..api.devices import register_device
    from ..api.schemas import DeviceIn

    lang = lang_of(request)
    form = await request.form()
    fields = dict(id=str(form.get("id", "")).strip(), name=str(form.get("name", "")).strip(),
                  zones=[str(z) for z in form.getlist("zones")],
                  latitude=str(form.get("latitude", "")).strip(),
                  longitude=str(form.get("longitude", "")).strip())
    errors = []
    if not IDENT.fullmatch(fields["id"]):
        errors.append(translate("setup.bad_id", lang))
    if not fields["name"]:
        errors.append(translate("setup.no_name", lang))
    if not fields["zones"]:
        errors.append(translate("error.no_village", lang))
    coordinates: dict[str, float | None] = {}
    for key in ("latitude", "longitude"):
        try:
            coordinates[key] = float(fields[key]) if fields[key] else None
        except ValueError:
            coordinates[key] = None
            errors.append(translate("setup.bad_coordinates", lang))
    if None in coordinates.values() and any(coordinates.values()):
        errors.append(translate("setup.bad_coordinates", lang))
    registered = None
    if not errors:
        try:
            body = DeviceIn(id=fields["id"], name=fields["name"], zones=fields["zones"],
                            output="alsa", **coordinates)
            registered = await run_in_threadpool(register_device, body, svc, who)
        except ValueError:  # pydantic: coordinates out of range
            errors.append(translate("setup.bad_coordinates", lang))
        except ApiError as exc:
            errors.append(translate(exc.key, lang, **exc.params))
    if registered is None:
        return render(request, "setup.html", who, status_code=422, errors=list(dict.fromkeys(
            errors)), form=fields, **_setup_context(svc))
    return _enrolment(request, svc, who, registered)


@router.post("/devices/{device_id}/rotate-token", response_class=HTMLResponse)
def device_rotate(device_id: str, request: Request, svc: ServicesDep,
                  who: Principal = page("device.manage")) -> HTMLResponse:
    """New credentials for a cluster (the old ones stop at once), shown once like at enrolment."""
    from ..api.devices import rotate_device_token

    return _enrolment(request, svc, who, rotate_device_token(device_id, svc, "alsa", who))


def _enrolment(request: Request, svc: ServicesDep, who: Principal, registered: Any
               ) -> HTMLResponse:
    base = svc.settings.resolved_public_url
    return render(request, "enrolled.html", who, d=registered.device,
                  config=registered.config_toml,
                  install=f"curl -fsSL {base}/edge/install.sh | sudo bash",
                  headers={"Cache-Control": "no-store"})  # a secret: never cached


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, svc: ServicesDep, actor: str = "", action: str = "",
               who: Principal = page("audit.read")) -> HTMLResponse:
    """The newest 300 entries, filtered by person and by kind of action (a prefix)."""
    from urllib.parse import urlencode

    from ..api.audit import audit_rows

    filters = {k: v for k, v in (("actor", actor.strip()), ("action", action.strip())) if v}
    with svc.sessions() as session:
        actors = session.scalars(select(AuditEntry.actor).distinct().order_by(
            AuditEntry.actor)).all()
    return render(request, "audit.html", who, entries=audit_rows(
        svc, filters.get("actor"), filters.get("action"), 300), actors=actors,
        actor=actor, action=action, query=urlencode(filters),
        kinds=("auth.", "broadcast.", "media.", "schedule.", "device.", "zone.", "user.",
               "token.", "alarm."))


# --- live updates -----------------------------------------------------------------------------


_FINGERPRINT_TTL_S = 0.9
_fingerprint_cache: dict[int, tuple[float, tuple[str, str]]] = {}
_fingerprint_lock = threading.Lock()


def _fingerprints(svc: ServicesDep) -> tuple[str, str]:
    """Shared by every open page: one set of queries a second, however many browsers watch."""
    with _fingerprint_lock:
        cached = _fingerprint_cache.get(id(svc))
        if cached and time.monotonic() - cached[0] < _FINGERPRINT_TTL_S:
            return cached[1]
        value = _read_fingerprints(svc)
        _fingerprint_cache[id(svc)] = (time.monotonic(), value)
        return value


def _read_fingerprints(svc: ServicesDep) -> tuple[str, str]:
    with svc.sessions() as session:
        fleet = session.execute(select(Device.id, Device.status).order_by(Device.id)).all()
        progress = session.execute(select(func.count(), func.max(DeviceEvent.id))).one()
        alarms = session.execute(select(func.count(), func.max(Alarm.id))
                                 .where(Alarm.cleared_at.is_(None))).one()
    digest = hashlib.sha256(repr((fleet, alarms)).encode()).hexdigest()[:16]
    return digest, repr(progress)


@router.get("/stream")
async def stream(request: Request, svc: ServicesDep, who: Principal = page("account.self")
                 ) -> StreamingResponse:
    """Server-sent events: ``fleet`` when a device or alarm changes, ``progress`` when agents
    report; the page re-fetches what it shows. Checked every second; comments keep it alive."""

    async def events() -> AsyncIterator[str]:
        last = ("", "")
        idle = 0
        while not await request.is_disconnected():
            now = await run_in_threadpool(_fingerprints, svc)
            if now[0] != last[0] and last[0]:
                yield "event: fleet\ndata: {}\n\n"
            if now[1] != last[1] and last[1]:
                yield "event: progress\ndata: {}\n\n"
            last = now
            idle += 1
            if idle % 15 == 0:
                yield ": keep-alive\n\n"
            await asyncio.sleep(1.0)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})
