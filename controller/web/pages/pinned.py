"""The storm path in pages. Tin ghim sẵn: the emergency messages every cluster keeps on disk —
what they say, which alert words sound them at once, and which clusters hold the current
set; pinned from a text read aloud (after the siren or chime) or from a recording already in
the station. And an emergency's SMS card: its orders in words and the storm view (reached
over the data link, by SMS, or not at all), on the bulletin's page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from ... import charts as svg
from ...auth import Principal
from ...container import Services
from ...domain.errors import DomainError
from ...domain.sms import Reach, SmsState, reach
from ...domain.text import code_from_name
from ...errors import http_status
from ...http import ServicesDep
from ...i18n import local_time, translate
from ...services.pinned import PinnedIn
from ...services.views import BroadcastOut
from ..render import lang_of, page, render, words

router = APIRouter(prefix="/ui", tags=["web"], include_in_schema=False)

INTROS = ("siren", "chime", "none")


def pinned_view(svc: Services, form: dict[str, str]) -> dict[str, Any]:
    """The set, who holds it (those behind first), and the form's choices."""
    current = svc.pinned.current()
    behind = [d for d in current.devices if not d.current]
    return dict(
        pinned=current,
        behind=behind,
        holding=len(current.devices) - len(behind),
        recordings=[m for m in svc.media.list(limit=50) if m.duration_ms],
        voices=svc.speech.voices(),
        default_voice=svc.speech.default_voice(),
        form=form,
    )


@router.get("/pinned", response_class=HTMLResponse)
def pinned_page(
    request: Request, svc: ServicesDep, who: Principal = page("device.read")
) -> HTMLResponse:
    return render(request, "pinned.html", who, errors=[], **pinned_view(svc, {"intro": "siren"}))


@router.post("/pinned", response_class=HTMLResponse)
async def pin(
    request: Request, svc: ServicesDep, who: Principal = page("pinned.manage")
) -> Response:
    """Make the message's audio (or take a recording) and pin it: a new version of the set
    goes to every cluster."""
    lang = lang_of(request)
    data = await request.form()
    form = {
        k: str(data.get(k, "")).strip()
        for k in ("title", "code", "text", "voice", "intro", "recording", "words", "position")
    }
    taken = {m.id for m in svc.pinned.messages()}
    code = form["code"] or code_from_name(form["title"], taken, limit=16)
    errors: list[str] = []
    if not form["title"]:
        errors.append(translate("error.title_empty", lang))
    try:
        position = int(form["position"] or 0)
    except ValueError:
        position = -1
    if not 0 <= position <= 99:
        errors.append(translate("pinned.bad_position", lang))
    if not errors:
        try:
            sha256 = await run_in_threadpool(
                svc.emergencies.audio,
                who,
                form["title"],
                form["text"],
                form["voice"] or None,
                form["recording"] or None,
                form["intro"] if form["intro"] in INTROS else "siren",  # type: ignore[arg-type]
            )
            body = PinnedIn(
                title=form["title"],
                media_sha256=sha256,
                position=position,
                cap_words=[w for w in form["words"].split(",") if w.strip()],
            )
            await run_in_threadpool(svc.pinned.put, who, code, body)
        except DomainError as exc:
            return _again(request, svc, who, form, [words(exc, lang)], http_status(exc))
        except ValidationError:
            errors.append(translate("pinned.bad_words", lang))
    if errors:
        return _again(request, svc, who, form, errors, 422)
    return RedirectResponse("/ui/pinned", status_code=303)


@router.post("/pinned/{message_id}/remove", response_class=HTMLResponse)
async def unpin(
    message_id: str, request: Request, svc: ServicesDep, who: Principal = page("pinned.manage")
) -> Response:
    try:
        await run_in_threadpool(svc.pinned.remove, who, message_id)
    except DomainError as exc:
        return _again(request, svc, who, {}, [words(exc, lang_of(request))], http_status(exc))
    return RedirectResponse("/ui/pinned", status_code=303)


def _again(
    request: Request,
    svc: Services,
    who: Principal,
    form: dict[str, str],
    errors: list[str],
    status: int,
) -> HTMLResponse:
    return render(
        request, "pinned.html", who, status_code=status, errors=errors, **pinned_view(svc, form)
    )


def sms_view(
    svc: Services, b: BroadcastOut, names: dict[str, str], lang: str, tz: str
) -> dict[str, Any]:
    """An emergency's SMS orders, per cluster in words, whether one can be sent now, and the
    storm view: which clusters it reached over their data link, by SMS, or not at all."""
    orders = svc.sms_orders.list(broadcast_id=b.id)
    by_device: dict[str, list[SmsState]] = {}
    for o in orders:
        by_device.setdefault(o.device_id, []).append(o.state)
    reached = {
        d.device_id: reach(d.started_at is not None, by_device.get(d.device_id, []))
        for d in b.deliveries
    }
    places = svc.devices.places(reached)
    return dict(
        ready=svc.sms_orders.channels.available and bool(svc.pinned.messages()),
        orders=[
            dict(
                name=names.get(o.device_id, o.device_id),
                state=o.state.value,
                words=translate(
                    f"sms.state.{o.state.value}",
                    lang,
                    at=local_time((o.played_at or o.sent_at or o.created_at).isoformat(), tz),
                    detail=o.detail,
                ),
            )
            for o in reversed(orders)
        ],
        reach=[
            dict(
                reach=r.value,
                count=sum(x == r for x in reached.values()),
                names=sorted(names.get(d, d) for d, x in reached.items() if x == r),
            )
            for r in Reach
        ],
        reach_map=svg.cluster_map(
            [
                (names.get(d, d), *places[d], f"reach-{r.value}")
                for d, r in reached.items()
                if d in places
            ],
            translate("sms.reach_map", lang),
        )
        if places
        else "",
    )
