"""Media: upload (validated, normalised, encoded), list, and serve to devices with Range."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from sqlalchemy import select
from starlette.datastructures import UploadFile

from ..db.models import Media
from ..errors import ApiError
from ..media.pipeline import MediaRejected, process_upload
from .deps import DeviceOrPermission, Principal, ServicesDep, allow, audit
from .schemas import MediaOut

log = logging.getLogger(__name__)
router = APIRouter(tags=["media"])

CHUNK = 1 << 20
FORM_OVERHEAD = 64 * 1024


def _out(media: Media) -> MediaOut:
    out = MediaOut.model_validate(media)
    out.url = f"/media/{media.sha256}"
    return out


def ingest_file(svc: ServicesDep, src: Path, size: int, filename: str,
                title: str | None) -> tuple[MediaOut, bool]:
    """Check, loudness-normalise, encode and store an uploaded file already on disk.

    Returns the media and whether it is new; raises ApiError (nothing stored) if refused.
    """
    dst = svc.store.temp_path(suffix=".opus")
    try:
        try:
            encoded = process_upload(src, dst, svc.encode_settings)
        except MediaRejected as exc:
            status = 415 if exc.key in ("upload.not_audio", "upload.unsupported_format") else 422
            raise ApiError(status, exc.key, **exc.params) from None
        sha, encoded_size = svc.store.put(dst)
        with svc.sessions.begin() as session:
            existing = session.get(Media, sha)
            if existing is not None:
                return _out(existing), False
            media = Media(
                sha256=sha, title=str(title or Path(filename).stem)[:200],
                original_filename=filename, original_format=encoded.original_format,
                original_size=size, size=encoded_size, mime="audio/ogg",
                duration_ms=encoded.duration_ms,
                loudness_in_lufs=encoded.loudness_in.integrated_lufs,
                true_peak_in_dbtp=encoded.loudness_in.true_peak_dbtp,
                loudness_out_lufs=encoded.loudness_out_lufs)
            try:
                session.add(media)
                session.flush()
            except Exception:
                svc.store.remove(sha)
                raise
            return _out(media), True
    finally:
        dst.unlink(missing_ok=True)


@router.post("/api/media", status_code=201, response_model=MediaOut,
             responses={413: {"description": "file too large"},
                        415: {"description": "not audio, or a format not accepted"},
                        422: {"description": "empty, truncated, silent, too short or too long"}})
async def upload_media(request: Request, response: Response, svc: ServicesDep,
                       who: Principal = allow("media.upload")) -> MediaOut:
    """Upload a bulletin (multipart field ``file``, optional ``title``).

    It is checked, loudness-normalised and encoded to Opus; nothing is stored if it fails.
    """
    limit = svc.settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + FORM_OVERHEAD:
        raise ApiError(413, "upload.too_large", limit_mb=limit // (1024 * 1024))
    form = await request.form(max_files=1, max_fields=5)
    upload = form.get("file")
    title = form.get("title")
    if not isinstance(upload, UploadFile):
        raise ApiError(422, "upload.missing_file")
    filename = (upload.filename or "")[:255]
    src = await save_upload(svc, upload, limit)
    try:
        out, created = await run_in_threadpool(ingest_file, svc, src, src.stat().st_size,
                                               filename, str(title) if title else None)
    finally:
        src.unlink(missing_ok=True)
    if not created:
        response.status_code = 200
        return out
    await run_in_threadpool(audit, svc, who, "media.upload", out.sha256, filename=filename,
                            duration_ms=out.duration_ms)
    return out


async def save_upload(svc: ServicesDep, upload: UploadFile, limit: int) -> Path:
    """Copy an upload to a temp file, refusing it past ``limit`` bytes or when empty."""
    src = svc.store.temp_path(suffix=Path(upload.filename or "").suffix[:10])
    size = 0
    try:
        with src.open("wb") as fh:
            while chunk := await upload.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, "upload.too_large", limit_mb=limit // (1024 * 1024))
                fh.write(chunk)
        if size == 0:
            raise ApiError(422, "upload.empty")
    except BaseException:
        src.unlink(missing_ok=True)
        raise
    return src


@router.get("/api/media", response_model=list[MediaOut], dependencies=[allow("media.read")])
def list_media(svc: ServicesDep) -> list[MediaOut]:
    with svc.sessions() as session:
        rows = session.scalars(select(Media).order_by(Media.created_at.desc())).all()
        return [_out(m) for m in rows]


@router.get("/api/media/{sha256}", response_model=MediaOut, dependencies=[allow("media.read")])
def get_media(sha256: str, svc: ServicesDep) -> MediaOut:
    with svc.sessions() as session:
        media = session.get(Media, sha256)
        if media is None:
            raise ApiError(404, "media.not_found")
        return _out(media)


@router.get("/media/{sha256}", dependencies=[Depends(DeviceOrPermission("media.read"))],
            responses={206: {"description": "partial content (Range)"}})
def download_media(sha256: str, svc: ServicesDep) -> FileResponse:
    """The encoded audio, for agents: immutable, so it can be cached forever and resumed."""
    path = svc.store.path_for(sha256) if re.fullmatch("[0-9a-f]{64}", sha256) else None
    if path is None or not path.is_file():
        raise ApiError(404, "media.not_found")
    return FileResponse(path, media_type="audio/ogg",
                        headers={"Cache-Control": "private, max-age=31536000, immutable"})
