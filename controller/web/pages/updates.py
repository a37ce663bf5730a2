"""Agent updates for the technician: the releases kept, which version each cluster runs, and
rollouts in waves (start one, follow it device by device, stop or resume it)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from ...auth import Principal
from ...domain.errors import DomainError, Invalid
from ...http import ServicesDep
from ...i18n import translate
from ...services.updates import MAX_RELEASE_BYTES, RolloutRequest
from ..render import lang_of, page, render, words

router = APIRouter(prefix="/ui", tags=["web"], include_in_schema=False)


def _page(
    request: Request, svc: ServicesDep, who: Principal, error: str = "", status_code: int = 200
) -> HTMLResponse:
    rollouts = svc.updates.rollouts(10)
    latest = svc.updates.rollout(rollouts[0].id) if rollouts else None
    versions = sorted(svc.updates.versions().items(), key=lambda vn: (not vn[0], vn[0] or ""))
    return render(
        request,
        "updates.html",
        who,
        status_code=status_code,
        error=error,
        releases=svc.updates.releases(),
        rollouts=rollouts,
        latest=latest,
        versions=versions,
        zones=svc.zones.names(),
        max_mb=MAX_RELEASE_BYTES // 2**20,
    )


@router.get("/updates", response_class=HTMLResponse)
def updates_page(
    request: Request, svc: ServicesDep, who: Principal = page("update.read")
) -> HTMLResponse:
    return _page(request, svc, who)


@router.post("/updates/releases", response_class=HTMLResponse)
async def updates_add_release(
    request: Request, svc: ServicesDep, who: Principal = page("update.manage")
) -> Response:
    """The upload form: a wheel kept as a release, or the page again with the reason."""
    form = await request.form()
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise Invalid("upload.missing_file")
        src = await svc.updates.receive(upload)
        await run_in_threadpool(
            svc.updates.add_release,
            who,
            src,
            upload.filename[:200],
            str(form.get("notes") or "")[:500],
        )
    except DomainError as exc:
        return _page(request, svc, who, words(exc, lang_of(request)), 422)
    return RedirectResponse("/ui/updates", status_code=303)


@router.post("/updates/rollouts", response_class=HTMLResponse)
async def updates_start_rollout(
    request: Request, svc: ServicesDep, who: Principal = page("update.manage")
) -> Response:
    form = await request.form()
    try:
        req = RolloutRequest(
            version=str(form.get("version", "")),
            zone_id=str(form.get("zone") or "") or None,
            confirm_s=int(str(form.get("confirm_s") or 180)),
        )
        await run_in_threadpool(svc.updates.start, who, req)
    except (ValidationError, ValueError):
        return _page(request, svc, who, translate("updates.bad_form", lang_of(request)), 422)
    except DomainError as exc:
        return _page(request, svc, who, words(exc, lang_of(request)), 422)
    return RedirectResponse("/ui/updates", status_code=303)
