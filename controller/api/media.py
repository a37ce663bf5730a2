"""Media: upload (validated, normalised, encoded), list, and serve to devices with Range."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from ..auth import Principal
from ..domain.errors import Invalid
from ..http import DeviceOrPermission, ServicesDep, allow
from ..services.views import JobOut, MediaOut

router = APIRouter(tags=["media"])

FORM_OVERHEAD = 64 * 1024


@router.post(
    "/api/media",
    status_code=201,
    response_model=MediaOut | JobOut,
    responses={
        202: {"model": JobOut, "description": "background=true: a job"},
        413: {"description": "file too large"},
        415: {"description": "not audio, or a format not accepted"},
        422: {"description": "empty, truncated, silent, too short or too long"},
    },
)
async def upload_media(
    request: Request,
    response: Response,
    svc: ServicesDep,
    background: bool = Query(
        False, description="answer 202 with a job at once; GET /api/jobs/{id} follows it"
    ),
    who: Principal = allow("media.upload"),
) -> MediaOut | JobOut:
    """Upload a bulletin (multipart field ``file``, optional ``title``).

    It is checked, loudness-normalised and encoded to Opus; nothing is stored if it fails.
    A long file is better sent with ``background=true``: the answer is a job with progress.
    """
    declared = request.headers.get("content-length")
    if (
        declared
        and declared.isdigit()
        and int(declared) > svc.media.max_upload_bytes + FORM_OVERHEAD
    ):
        raise svc.media.too_large()
    form = await request.form(max_files=1, max_fields=5)
    upload = form.get("file")
    title = form.get("title")
    if not isinstance(upload, UploadFile):
        raise Invalid("upload.missing_file")
    filename = (upload.filename or "")[:255]
    src = await svc.media.receive(upload, filename)
    if background:
        response.status_code = 202
        name = str(title) if title else None
        return svc.media_jobs.start(
            "upload",
            who,
            name or filename,
            lambda progress: svc.media.ingest(who, src, filename, name, progress),
            cleanup=lambda: src.unlink(missing_ok=True),
        )
    try:
        out, created = await run_in_threadpool(
            svc.media.ingest, who, src, filename, str(title) if title else None
        )
    finally:
        src.unlink(missing_ok=True)
    if not created:
        response.status_code = 200
    return out


@router.get("/api/media", response_model=list[MediaOut], dependencies=[allow("media.read")])
def list_media(svc: ServicesDep) -> list[MediaOut]:
    return svc.media.list()


@router.get("/api/media/{sha256}", response_model=MediaOut, dependencies=[allow("media.read")])
def get_media(sha256: str, svc: ServicesDep) -> MediaOut:
    return svc.media.get(sha256)


class VillageHearsOut(BaseModel):
    zone: str
    name: str
    languages: list[str] = Field(description="what its people hear, in order")
    hears: list[str] = Field(description="the versions of this bulletin it will hear, in order")


@router.get(
    "/api/media/{sha256}/villages",
    response_model=list[VillageHearsOut],
    dependencies=[allow("media.read")],
)
def who_hears_what(sha256: str, svc: ServicesDep) -> list[VillageHearsOut]:
    """Which language versions of a bulletin each village will hear, before it is sent."""
    svc.media.get(sha256)  # NotFound
    return [VillageHearsOut(**v) for v in svc.speech.routing.who_hears_what(sha256)]


@router.get(
    "/media/{sha256}",
    dependencies=[Depends(DeviceOrPermission("media.read"))],
    responses={206: {"description": "partial content (Range)"}},
)
def download_media(sha256: str, svc: ServicesDep) -> FileResponse:
    """The encoded audio, for agents: immutable, so it can be cached forever and resumed."""
    return FileResponse(
        svc.media.file(sha256),
        media_type="audio/ogg",
        headers={"Cache-Control": "private, max-age=31536000, immutable"},
    )
