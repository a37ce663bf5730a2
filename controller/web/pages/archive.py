"""Lưu trữ: pick a day and a time, listen to what the channel carried then, see what aired
and the gaps, export a period as a signed ZIP; the disk the archive takes and will take."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import FileResponse, HTMLResponse

from ...auth import Principal, allowed
from ...domain.errors import DomainError, Invalid
from ...http import ServicesDep
from ...services.archive import file_id
from ..render import lang_of, page, render, words

router = APIRouter(prefix="/ui", tags=["web"], include_in_schema=False)


def _parse_day(text: str, today: date) -> date:
    try:
        return date.fromisoformat(text) if text else today
    except ValueError:
        return today


@router.get("/archive", response_class=HTMLResponse)
def archive_page(
    request: Request,
    svc: ServicesDep,
    day: str = Query("", max_length=10),
    at: str = Query("", max_length=5, description="HH:MM, station time"),
    who: Principal = page("archive.read"),
) -> HTMLResponse:
    archive = svc.archive
    chosen = _parse_day(day, archive.today())
    error = request.query_params.get("error", "")
    if day and chosen.isoformat() != day:  # not a day: today instead, and said so
        error = words(Invalid("archive.bad_day", day=day), lang_of(request))
    found = archive.day(chosen)
    cue: tuple[str, float] | None = None  # the recording holding ``at``, and where in it
    if at:
        try:
            moment = archive.aware(datetime.combine(chosen, datetime.strptime(at, "%H:%M").time()))
            for f in found.files:  # the one holding that minute (from where it begins)
                if f.end > moment and f.start < moment + timedelta(minutes=1):
                    cue = (f.name, max(0.0, (moment - f.start).total_seconds()))
                    break
        except ValueError:
            at = ""
    return render(
        request,
        "archive.html",
        who,
        found=found,
        usage=archive.usage(),
        day=chosen.isoformat(),
        at=at,
        cue=cue,
        tz=archive.tz,
        may_export=allowed(who.roles, "archive.export"),
        file_id=file_id,
        export_from=f"{chosen.isoformat()}T00:00",
        export_to=f"{(chosen + timedelta(days=1)).isoformat()}T00:00",
        error=error,
    )


@router.get("/archive/files/{file}", response_class=FileResponse)
def archive_file(
    file: str, svc: ServicesDep, who: Principal = page("archive.read")
) -> FileResponse:
    return FileResponse(svc.archive.path(file), media_type="audio/ogg")


@router.get("/archive/export", response_model=None)
def archive_export(
    request: Request,
    svc: ServicesDep,
    tasks: BackgroundTasks,
    start: str = Query(alias="from", max_length=25),
    end: str = Query(alias="to", max_length=25),
    who: Principal = page("archive.export"),
) -> FileResponse | HTMLResponse:
    """The period's signed ZIP; a bad period shows the page again, saying why."""
    archive = svc.archive
    try:
        a, b = datetime.fromisoformat(start), datetime.fromisoformat(end)
        path = svc.archive_export.export(who, archive.aware(a), archive.aware(b))
    except ValueError:
        return _again(request, svc, who, words(_bad_period(), lang_of(request)))
    except DomainError as exc:
        return _again(request, svc, who, words(exc, lang_of(request)))
    tasks.add_task(path.unlink, missing_ok=True)
    return FileResponse(path, media_type="application/zip", filename=archive.zip_name(a, b))


def _bad_period() -> DomainError:
    return Invalid("archive.period")


def _again(request: Request, svc: ServicesDep, who: Principal, error: str) -> HTMLResponse:
    archive = svc.archive
    chosen = archive.today()
    return render(
        request,
        "archive.html",
        who,
        status_code=400,
        found=archive.day(chosen),
        usage=archive.usage(),
        day=chosen.isoformat(),
        at="",
        cue=None,
        tz=archive.tz,
        may_export=True,
        file_id=file_id,
        export_from=request.query_params.get("from", ""),
        export_to=request.query_params.get("to", ""),
        error=error,
    )
