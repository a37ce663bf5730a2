"""Signed agent updates: releases (wheels) kept and served to devices, and rollouts in waves."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from starlette.datastructures import UploadFile

from ..auth import Principal
from ..domain.errors import Invalid
from ..http import DeviceOrPermission, ServicesDep, allow
from ..services.updates import ReleaseOut, RolloutOut, RolloutRequest

router = APIRouter(tags=["updates"])

RolloutId = PathParam(max_length=40, pattern=r"^[0-9a-f]{1,40}$")


async def receive_release(request: Request, svc: ServicesDep) -> tuple[Path, str, str]:
    """The multipart field ``file`` (a wheel) copied to a scratch file, with ``notes``."""
    form = await request.form(max_files=1, max_fields=3)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise Invalid("upload.missing_file")
    src = await svc.updates.receive(upload)
    return src, (upload.filename or "")[:200], str(form.get("notes") or "")[:500]


@router.post(
    "/api/releases",
    status_code=201,
    response_model=ReleaseOut,
    responses={
        409: {"description": "this version is already kept"},
        413: {"description": "file too large"},
        422: {"description": "not a wheel of the agent"},
    },
)
async def add_release(
    request: Request, svc: ServicesDep, who: Principal = allow("update.manage")
) -> ReleaseOut:
    """Keep an agent release: a wheel ``loalang-VERSION-py3-none-any.whl`` (multipart field
    ``file``, optional ``notes``), built with ``pip wheel --no-deps .``."""
    src, filename, notes = await receive_release(request, svc)
    return await run_in_threadpool(svc.updates.add_release, who, src, filename, notes)


@router.get("/api/releases", response_model=list[ReleaseOut], dependencies=[allow("update.read")])
def list_releases(svc: ServicesDep) -> list[ReleaseOut]:
    return svc.updates.releases()


@router.get(
    "/edge/releases/{filename}",
    dependencies=[Depends(DeviceOrPermission("update.read"))],
    responses={206: {"description": "partial content (Range)"}},
)
def download_release(
    svc: ServicesDep,
    filename: str = PathParam(
        max_length=200, pattern=r"^loalang_agent-[A-Za-z0-9_.+!]+-py3-none-any\.whl$"
    ),
) -> FileResponse:
    """A release's wheel, for a device told to update (its own token)."""
    return FileResponse(
        svc.updates.release_file(filename),
        media_type="application/zip",
        headers={"Cache-Control": "private, max-age=31536000, immutable"},
    )


@router.post(
    "/api/rollouts",
    status_code=201,
    response_model=RolloutOut,
    responses={409: {"description": "another rollout is under way"}},
)
def start_rollout(
    req: RolloutRequest, svc: ServicesDep, who: Principal = allow("update.manage")
) -> RolloutOut:
    """Send a release to devices in waves: one device, then 10 %, then the rest; a wave
    begins when the one before is all updated, and a failed device stops the rollout."""
    return svc.updates.start(who, req)


@router.get("/api/rollouts", response_model=list[RolloutOut], dependencies=[allow("update.read")])
def list_rollouts(svc: ServicesDep) -> list[RolloutOut]:
    return svc.updates.rollouts()


@router.get(
    "/api/rollouts/{rollout_id}", response_model=RolloutOut, dependencies=[allow("update.read")]
)
def get_rollout(svc: ServicesDep, rollout_id: str = RolloutId) -> RolloutOut:
    return svc.updates.rollout(rollout_id)


@router.post("/api/rollouts/{rollout_id}/stop", response_model=RolloutOut)
def stop_rollout(
    svc: ServicesDep, rollout_id: str = RolloutId, who: Principal = allow("update.stop")
) -> RolloutOut:
    """Send nothing more; what was sent finishes (or rolls back) on its devices."""
    return svc.updates.stop(who, rollout_id)


@router.post("/api/rollouts/{rollout_id}/resume", response_model=RolloutOut)
def resume_rollout(
    svc: ServicesDep, rollout_id: str = RolloutId, who: Principal = allow("update.manage")
) -> RolloutOut:
    """Go on with a stopped rollout; its wave's failed devices are tried again."""
    return svc.updates.resume(who, rollout_id)


@router.post("/api/rollouts/{rollout_id}/cancel", response_model=RolloutOut)
def cancel_rollout(
    svc: ServicesDep, rollout_id: str = RolloutId, who: Principal = allow("update.manage")
) -> RolloutOut:
    return svc.updates.cancel(who, rollout_id)
