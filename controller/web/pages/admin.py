"""The admin's pages: accounts, villages and clusters (register, new credentials), audit log."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from protocol.topics import ID_PATTERN

from ...auth import Principal, Role
from ...container import Services
from ...domain.device import DeviceKind
from ...domain.errors import DomainError
from ...http import ServicesDep
from ...i18n import translate
from ...media.tts.engines import LANGUAGES
from ...services.audit import KINDS
from ...services.views import DeviceRegistered
from ...settings import is_loopback
from ..render import lang_of, page, render, words
from ..secure_address import qr_svg, secure_base

router = APIRouter(prefix="/ui", tags=["web"], include_in_schema=False)

IDENT = re.compile(f"^{ID_PATTERN}$")
RANGES = {"latitude": 90.0, "longitude": 180.0}


# --- view builders ----------------------------------------------------------------------------


def setup_view(svc: Services, request_url: str) -> dict[str, Any]:
    devices = sorted(svc.devices.list(), key=lambda d: (d.retired, d.id))
    base = secure_base(svc.settings, request_url)
    own_ca = svc.settings.tls_cert is None  # (an operator's certificate needs no installing)
    phone = (
        dict(
            base=base,
            ca_url=f"{base}/tls/ca.crt" if own_ca else None,
            ca_qr=qr_svg(f"{base}/tls/ca.crt") if own_ca else None,
            send_url=f"{base}/ui/send",
            send_qr=qr_svg(f"{base}/ui/send"),
        )
        if base
        else None
    )
    return dict(
        zones=svc.zones.list(),
        devices=devices,
        station=svc.station.get(),
        phone=phone,
        language_names={code: vi for code, (vi, _) in LANGUAGES.items()},
    )


def enrolment_view(svc: Services, registered: DeviceRegistered) -> dict[str, Any]:
    base = svc.settings.resolved_public_url
    host = urlsplit(base).hostname or ""
    return dict(
        d=registered.device,
        config=registered.config_toml,
        install=f"curl -fsSL {base}/edge/install.sh | sudo bash",
        local_only=svc.settings.public_url is None or is_loopback(host),
    )


def _coordinates(fields: dict[str, Any], lang: str, errors: list[str]) -> dict[str, float | None]:
    """Both or neither, each a number in range; a problem is added to ``errors``."""
    out: dict[str, float | None] = {}
    for key, limit in RANGES.items():
        try:
            value = float(fields[key]) if fields[key] else None
        except ValueError:
            value = None
            errors.append(translate("setup.bad_coordinates", lang))
        if value is not None and not -limit <= value <= limit:
            errors.append(translate("setup.bad_coordinates", lang))
        out[key] = value
    if (out["latitude"] is None) != (out["longitude"] is None):
        errors.append(translate("setup.bad_coordinates", lang))
    return out


# --- pages ------------------------------------------------------------------------------------


@router.get("/users", response_class=HTMLResponse)
def users_page(
    request: Request, svc: ServicesDep, who: Principal = page("user.manage")
) -> HTMLResponse:
    return render(
        request,
        "users.html",
        who,
        users=svc.accounts.list(),
        errors=[],
        form={},
        locked=svc.accounts.locked(),
    )


@router.post("/users", response_class=HTMLResponse)
async def users_create(
    request: Request, svc: ServicesDep, who: Principal = page("user.manage")
) -> Response:
    """Create an account from the form; the admin chooses the first password."""
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
            await run_in_threadpool(
                svc.accounts.create, who, username, password, [Role(r) for r in roles], display_name
            )
    except ValueError:
        errors.append(translate("users.invalid", lang))
    except DomainError as exc:
        errors.append(words(exc, lang))
    if errors:
        return render(
            request,
            "users.html",
            who,
            status_code=422,
            users=svc.accounts.list(),
            locked=svc.accounts.locked(),
            errors=errors,
            form=dict(username=username, display_name=display_name, roles=roles),
        )
    return RedirectResponse("/ui/users", status_code=303)


@router.get("/setup", response_class=HTMLResponse)
def setup_page(
    request: Request, svc: ServicesDep, who: Principal = page("device.manage")
) -> HTMLResponse:
    """Villages and loudspeaker clusters: add, rename, register, retire."""
    return render(
        request, "setup.html", who, errors=[], form={}, **setup_view(svc, str(request.url))
    )


@router.post("/zones/{zone_id}/languages", response_class=HTMLResponse)
async def zone_languages(
    zone_id: str, request: Request, svc: ServicesDep, who: Principal = page("zone.manage")
) -> Response:
    """A village's languages, in the order a bulletin's versions play to it ("hmn, vi")."""
    form = await request.form()
    codes = [c.strip() for c in str(form.get("languages", ""))[:120].split(",") if c.strip()]
    try:
        svc.zones.set_languages(who, zone_id[:64], codes)
    except DomainError as exc:
        return render(
            request,
            "setup.html",
            who,
            status_code=422,
            errors=[words(exc, lang_of(request))],
            form={},
            **setup_view(svc, str(request.url)),
        )
    return RedirectResponse("/ui/setup#villages", status_code=303)


@router.post("/station", response_class=HTMLResponse)
async def station_change(
    request: Request, svc: ServicesDep, who: Principal = page("station.settings")
) -> Response:
    """The station's settings from the setup page (checked as a whole; audited)."""
    form = await request.form()
    try:
        svc.station.change(
            who,
            receiver_floor=int(str(form.get("receiver_floor", ""))),
            archive_months=int(str(form.get("archive_months", ""))),
            public_by_default=form.get("public_by_default") == "1",
            public_listening=form.get("public_listening") == "1",
        )
    except ValueError:
        return render(
            request,
            "setup.html",
            who,
            status_code=422,
            errors=[translate("station.bad", lang_of(request))],
            form={},
            **setup_view(svc, str(request.url)),
        )
    return RedirectResponse("/ui/setup#station", status_code=303)


@router.post("/setup/devices", response_class=HTMLResponse)
async def setup_register(
    request: Request, svc: ServicesDep, who: Principal = page("device.manage")
) -> Response:
    """Register a cluster from the form; the answer shows its credentials once."""
    lang = lang_of(request)
    form = await request.form()
    fields = dict(
        id=str(form.get("id", "")).strip(),
        name=str(form.get("name", "")).strip(),
        zones=[str(z) for z in form.getlist("zones")],
        latitude=str(form.get("latitude", "")).strip(),
        longitude=str(form.get("longitude", "")).strip(),
        kind=str(form.get("kind", "cluster")),
    )
    errors = []
    if fields["kind"] not in DeviceKind.__members__:
        errors.append(translate("setup.bad_kind", lang))
        fields["kind"] = "cluster"
    if not IDENT.fullmatch(fields["id"]):
        errors.append(translate("setup.bad_id", lang))
    if not fields["name"]:
        errors.append(translate("setup.no_name", lang))
    if not fields["zones"]:
        errors.append(translate("error.no_village", lang))
    where = _coordinates(fields, lang, errors)
    registered = None
    if not errors:
        try:
            registered = await run_in_threadpool(
                svc.devices.register,
                who,
                fields["id"],
                fields["name"],
                fields["zones"],
                "alsa",
                where["latitude"],
                where["longitude"],
                DeviceKind(fields["kind"]),
            )
        except DomainError as exc:
            errors.append(words(exc, lang))
    if registered is None:
        return render(
            request,
            "setup.html",
            who,
            status_code=422,
            errors=list(dict.fromkeys(errors)),
            form=fields,
            **setup_view(svc, str(request.url)),
        )
    return render(
        request,
        "enrolled.html",
        who,
        headers={"Cache-Control": "no-store"},
        **enrolment_view(svc, registered),
    )  # a secret: never cached


@router.post("/devices/{device_id}/rotate-token", response_class=HTMLResponse)
def device_rotate(
    device_id: str, request: Request, svc: ServicesDep, who: Principal = page("device.manage")
) -> HTMLResponse:
    """New credentials for a cluster (the old ones stop at once), shown once like at enrolment."""
    registered = svc.devices.rotate_token(who, device_id, "alsa")
    return render(
        request,
        "enrolled.html",
        who,
        headers={"Cache-Control": "no-store"},
        **enrolment_view(svc, registered),
    )


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    svc: ServicesDep,
    actor: str = "",
    action: str = "",
    who: Principal = page("audit.read"),
) -> HTMLResponse:
    """The newest 300 entries, filtered by person and by kind of action (a prefix)."""
    filters = {k: v for k, v in (("actor", actor.strip()), ("action", action.strip())) if v}
    return render(
        request,
        "audit.html",
        who,
        entries=svc.audit.rows(filters.get("actor"), filters.get("action"), 300),
        actors=svc.audit.actors(),
        actor=actor,
        action=action,
        query=urlencode(filters),
        kinds=KINDS,
    )
