"""What every page shares: its permission (``Page``), the templates, the words of the reader's
language, and places named as a broadcaster knows them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from ..auth import Principal, allowed
from ..container import Services
from ..domain.broadcast import BroadcastState
from ..domain.device import DeviceStatus
from ..domain.errors import DomainError, NotAllowed
from ..domain.jobs import MediaJobState
from ..domain.rollout import RolloutState
from ..domain.schedule_change import ScheduleChangeState
from ..http import SESSION_COOKIE, Allow, ServicesDep, principal_for
from ..i18n import (
    LANGUAGES,
    alarm_detail_words,
    device_state_words,
    state_words,
    translate,
)
from ..reports.figures import percent
from .frame import frame

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters["percent"] = percent

NAV = [
    ("nav.home", "/ui/", "broadcast.read"),
    ("nav.history", "/ui/broadcasts", "broadcast.read"),
    ("nav.week", "/ui/week", "schedule.read"),
    ("nav.routine", "/ui/routine", "schedule.read"),
    ("nav.send", "/ui/send", "broadcast.create"),
    ("nav.emergency", "/ui/emergency", "broadcast.create"),
    ("nav.pinned", "/ui/pinned", "pinned.manage"),
    ("nav.live", "/ui/live", "live.start"),
    ("nav.approvals", "/ui/approvals", "broadcast.approve"),  # (a second person: the badge)
    ("nav.fleet", "/ui/fleet", "device.read"),
    ("nav.alarms", "/ui/alarms", "alarm.read"),
    ("nav.speech", "/ui/speech", "speech.lexicon"),
    ("nav.reports", "/ui/reports", "report.read"),
    ("nav.archive", "/ui/archive", "archive.read"),
    ("nav.notices", "/ui/notices", "alarm.read"),
    ("nav.updates", "/ui/updates", "update.read"),
    ("nav.setup", "/ui/setup", "device.manage"),
    ("nav.users", "/ui/users", "user.manage"),
    ("nav.audit", "/ui/audit", "audit.read"),
]


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
            raise svc.media.too_large()
        if csrf is None and request.method == "POST" and request.cookies.get(SESSION_COOKIE):
            form = await request.form()  # cached: the page reads the same form again
            csrf = str(form.get("csrf", ""))
        return await run_in_threadpool(self._check, request, svc, csrf)

    def _check(self, request: Request, svc: Services, csrf: str | None) -> Principal:
        principal = principal_for(request, svc, csrf)
        if principal is None:
            raise LoginRequired()
        try:
            self.check(svc, request, principal)
        except NotAllowed:
            raise PageForbidden(principal, self.permission) from None
        return principal


def page(permission: str) -> Any:
    return Depends(Page(permission))


def lang_of(request: Request) -> str:
    lang = request.cookies.get("lang", "vi")
    return lang if lang in LANGUAGES else "vi"


def words(exc: DomainError, lang: str) -> str:
    return translate(exc.key, lang, **exc.params)


class PlaceNames:
    """Targets in words a broadcaster knows: village and loudspeaker names, not ids.

    Reads the names on first use, once per page."""

    def __init__(self, svc: Services, lang: str):
        self._svc, self._lang = svc, lang
        self._zones: dict[str, str] | None = None
        self._devices: dict[str, str] = {}

    def _load(self) -> dict[str, str]:
        if self._zones is None:
            self._zones = self._svc.zones.names()
            self._devices = self._svc.devices.names()
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


def render(
    request: Request,
    name: str,
    who: Principal | None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    lang = lang_of(request)
    svc: Services = request.app.state.services
    csrf = getattr(request.state, "csrf", "") if who is not None else ""
    here = request.url.path.rstrip("/") or "/"
    nav = [
        (
            translate(k, lang),
            href,
            here == (href.rstrip("/") or "/")
            or (href != "/ui/" and here.startswith(href.rstrip("/") + "/")),
        )
        for k, href, perm in NAV
        if who is not None and allowed(who.roles, perm)
    ]
    tz = ZoneInfo(svc.settings.timezone)

    def local(value: datetime | None, fmt: str = "%d/%m %H:%M") -> str:
        return value.astimezone(tz).strftime(fmt) if value else "—"

    def seconds(ms: int) -> str:
        """Milliseconds as seconds with one decimal, written the reader's way (1,5 / 1.5)."""
        text = f"{ms / 1000:.1f}"
        return text.replace(".", ",") if lang == "vi" else text

    places = PlaceNames(svc, lang)
    names: dict[str, str] | None = None

    def name_of(username: str | None) -> str:
        """A person's full name (their login name if they gave none)."""
        nonlocal names
        if not username:
            return "—"
        if names is None:
            names = svc.accounts.display_names()
        return names.get(username) or username

    return templates.TemplateResponse(
        request,
        name,
        dict(
            t=lambda key, **kw: translate(key, lang, **kw),
            st=lambda s: state_words(s, lang),
            lang=lang,
            who=who,
            csrf=csrf,
            nav=nav,
            local=local,
            seconds=seconds,
            place=places.target,
            zone_name=places.zone,
            device_state=lambda status: device_state_words(status, lang),
            secure_port=svc.settings.https_port,  # where a phone may record (0: nowhere)
            alarm_detail=lambda a: alarm_detail_words(a.code, a.channel, a.value, a.detail, lang),
            # states are the domain's: pages compare with these, never with strings
            BS=BroadcastState,
            DS=DeviceStatus,
            JS=MediaJobState,
            RS=RolloutState,
            CS=ScheduleChangeState,
            can=lambda perm: who is not None and allowed(who.roles, perm),
            name_of=name_of,
            **frame(svc, who).context(),
            **context,
        ),
        status_code=status_code,
        headers=headers,
    )
