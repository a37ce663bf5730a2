"""Phát khẩn cấp: one form, every village preselected, a siren then the message read aloud (or
a recording), an optional repeat; and the badge that tells approvers one is waiting."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...auth import Principal
from ...domain.errors import DomainError
from ...errors import http_status
from ...http import ServicesDep
from ...i18n import translate
from ...services.emergencies import EmergencyRequest
from ..render import lang_of, page, render, words

router = APIRouter(prefix="/ui", tags=["web"], include_in_schema=False)


def _form(svc: ServicesDep, form: dict[str, str | list[str]]) -> dict[str, object]:
    return dict(
        form=form,
        zones=svc.zones.names(),
        voices=svc.speech.voices(),
        default_voice=svc.speech.default_voice(),
    )


@router.get("/emergency", response_class=HTMLResponse)
def emergency_form(
    request: Request, svc: ServicesDep, who: Principal = page("broadcast.create")
) -> HTMLResponse:
    return render(
        request,
        "emergency.html",
        who,
        errors=[],
        **_form(
            svc,
            {
                "title": translate("emergency.default_title", lang_of(request)),
                "villages": ["all"],
                "intro": "siren",
            },
        ),
    )


@router.post("/emergency", response_class=HTMLResponse)
async def emergency_send(
    request: Request, svc: ServicesDep, who: Principal = page("broadcast.create")
) -> Response:
    """Made and sent at once (a short text is spoken in a second or two); it waits for a
    second person with its audio already on the loudspeakers."""
    lang = lang_of(request)
    data = await request.form()
    villages = [str(v) for v in data.getlist("village")]
    form: dict[str, str | list[str]] = dict(
        title=str(data.get("title", "")).strip(),
        text=str(data.get("text", "")),
        voice=str(data.get("voice", "")),
        intro=str(data.get("intro", "siren")),
        villages=villages,
        every=str(data.get("every", "")).strip(),
        hours=str(data.get("hours", "")).strip(),
    )
    errors = []
    if not form["title"]:
        errors.append(translate("error.title_empty", lang))
    if not villages:
        errors.append(translate("error.no_village", lang))
    every = hours = None
    try:
        every = int(str(form["every"])) if form["every"] else None
        hours = float(str(form["hours"])) if form["hours"] else None
        if (every is not None and not 1 <= every <= 1440) or (hours is not None and hours <= 0):
            raise ValueError
    except ValueError:
        errors.append(translate("emergency.bad_repeat", lang))
    if errors:
        return render(
            request, "emergency.html", who, status_code=422, errors=errors, **_form(svc, form)
        )
    targets = ["all"] if "all" in villages else [f"zone:{v}" for v in villages]
    intro = str(form["intro"])
    try:
        broadcast_id = await run_in_threadpool(
            svc.emergencies.send,
            who,
            EmergencyRequest(
                title=str(form["title"]),
                targets=targets,
                text=str(form["text"]),
                voice=str(form["voice"]) or None,
                intro=intro if intro in ("siren", "chime", "none") else "siren",  # type: ignore[arg-type]
                repeat_every_s=every * 60 if every else None,
                repeat_for_s=round(hours * 3600) if every and hours else None,
            ),
        )
    except DomainError as exc:
        return render(
            request,
            "emergency.html",
            who,
            status_code=http_status(exc),
            errors=[words(exc, lang)],
            **_form(svc, form),
        )
    return RedirectResponse(f"/ui/broadcasts/{broadcast_id}", status_code=303)


@router.get("/emergency-badge", response_class=HTMLResponse)
def emergency_badge(
    request: Request, svc: ServicesDep, who: Principal = page("broadcast.read")
) -> HTMLResponse:
    """The header's badge (re-fetched on every ``broadcasts`` event)."""
    return render(request, "_emergency_badge.html", who)
