"""The archive (JSON face): a day's recordings, gaps and what aired; one recording; a period
exported as a signed ZIP (``loalang archive verify`` checks it)."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, BackgroundTasks, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel

from ..auth import Principal
from ..http import ServicesDep, allow
from ..services.archive import ArchiveDay, file_id

router = APIRouter(tags=["archive"])


class ArchiveFileOut(BaseModel):
    name: str
    url: str
    start: datetime
    end: datetime
    bytes: int
    recording: bool


class GapOut(BaseModel):
    start: datetime
    end: datetime
    seconds: float
    reason: str


class AiredOut(BaseModel):
    id: str
    title: str
    start: datetime
    priority: str
    kind: str
    devices: int
    played: int


class UsageOut(BaseModel):
    files: int
    bytes: int
    hours: float
    bytes_per_hour: float
    months: int
    need_bytes: float
    disk_free: int
    disk_total: int
    alarm: bool


class ArchiveDayOut(BaseModel):
    day: date
    channel_running: bool
    files: list[ArchiveFileOut]
    gaps: list[GapOut]
    aired: list[AiredOut]
    usage: UsageOut


def day_out(found: ArchiveDay, usage: UsageOut, prefix: str) -> ArchiveDayOut:
    """One shape for the JSON and the page."""
    return ArchiveDayOut(
        day=found.day,
        channel_running=found.channel_running,
        files=[
            ArchiveFileOut(
                name=f.name,
                url=f"{prefix}/{file_id(f.name)}",
                start=f.start,
                end=f.end,
                bytes=f.bytes,
                recording=f.open,
            )
            for f in found.files
        ],
        gaps=[
            GapOut(start=g.start, end=g.end, seconds=g.seconds, reason=g.reason) for g in found.gaps
        ],
        aired=[
            AiredOut(
                id=a.id,
                title=a.title,
                start=a.start,
                priority=a.priority,
                kind=a.kind,
                devices=a.devices,
                played=a.played,
            )
            for a in found.aired
        ],
        usage=usage,
    )


@router.get("/api/archive", response_model=ArchiveDayOut)
def archive_day(
    svc: ServicesDep,
    day: date | None = Query(None, description="a day in the station's time (default today)"),
    who: Principal = allow("archive.read"),
) -> ArchiveDayOut:
    found = svc.archive.day(day or svc.archive.today())
    usage = UsageOut(**svc.archive.usage().__dict__)
    return day_out(found, usage, "/api/archive/files")


@router.get("/api/archive/files/{file}", response_class=FileResponse)
def archive_file(
    file: str, svc: ServicesDep, who: Principal = allow("archive.read")
) -> FileResponse:
    """One recording (Ogg Opus, ``20261207-080000.ogg``), as the recorder wrote it."""
    return FileResponse(svc.archive.path(file), media_type="audio/ogg")


@router.get("/api/archive/export", response_class=FileResponse)
def archive_export(
    svc: ServicesDep,
    tasks: BackgroundTasks,
    start: datetime = Query(alias="from", description="without an offset, station time"),
    end: datetime = Query(alias="to", description="exclusive"),
    who: Principal = allow("archive.export"),
) -> FileResponse:
    """The period as a ZIP: recordings, bulletins, the playback log, gaps, the signed seal."""
    path = svc.archive_export.export(who, svc.archive.aware(start), svc.archive.aware(end))
    tasks.add_task(path.unlink, missing_ok=True)
    return FileResponse(
        path, media_type="application/zip", filename=svc.archive.zip_name(start, end)
    )
