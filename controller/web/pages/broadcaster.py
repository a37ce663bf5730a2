"""The broadcaster's pages: today, the week, sending a bulletin, following one."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from protocol.messages import Priority, utcnow

from ...auth import Principal
from ...container import Services
from ...domain.broadcast import BroadcastState
from ...domain.errors import DomainError, NotFound
from ...errors import http_status
from ...http import ServicesDep
from ...i18n import translate
from ...services.broadcasts import BroadcastRequest
from ...services.speech import SpeechPart
from ...services.views import MediaOut
from .. import svg
from ..render import lang_of, page, render, words

router = APIRouter(prefix="/ui", tags=["web"], include_in_schema=False)

COVERAGE_COLOURS = {"played": "#1b7a3a", "interrupted": "#b8860b", "failed": "#b3261e",
                    "missed": "#6b6b6b"}


# --- view builders ----------------------------------------------------------------------------


def _today(svc: Services) -> tuple[datetime, datetime]:
    tz = ZoneInfo(svc.settings.timezone)
    start = datetime.combine(utcnow().astimezone(tz).date(), datetime.min.time(), tz)
    return start, start + timedelta(days=1)


def home_view(svc: Services, lang: str) -> dict[str, Any]:
    """Today's programme, the last bulletins, and whether each village heard the latest."""
    start, end = _today(svc)
    recent = svc.broadcasts.list(limit=10, by_creation=True)
    zones = svc.zones.names()
    last_by_zone: dict[str, dict[str, int]] = {}
    for b in svc.broadcasts.list(limit=200, states=(BroadcastState.sent, BroadcastState.done)):
        for target in b.targets:
            zone = target.partition(":")[2] if target.startswith("zone:") else None
            keys = [zone] if zone else (list(zones) if target == "all" else [])
            for key in keys:
                if key in zones and key not in last_by_zone:
                    last_by_zone[key] = b.summary
    coverage = svg.stacked_bars([(zones[z], last_by_zone[z]) for z in zones if z in last_by_zone],
                                COVERAGE_COLOURS, translate("home.villages", lang))
    return dict(plan=svc.programme.between(start, end), recent=recent, coverage=coverage)


def week_view(svc: Services) -> dict[str, Any]:
    """The next 7 days as a calendar: one column per day."""
    tz = ZoneInfo(svc.settings.timezone)
    today = utcnow().astimezone(tz).date()
    start = datetime.combine(today, datetime.min.time(), tz)
    days: list[dict[str, Any]] = [dict(date=today + timedelta(days=i), items=[])
                                  for i in range(7)]
    for item in svc.programme.between(start, start + timedelta(days=7)):
        days[(item.start.date() - today).days]["items"].append(item)
    return dict(days=days)


def broadcast_view(svc: Services, broadcast_id: str) -> dict[str, Any]:
    """A bulletin and where it stands on every loudspeaker, by name."""
    b = svc.broadcasts.get(broadcast_id)
    media = svc.media.get(b.media_sha256) if b.media_sha256 else None  # a stream has none
    names = svc.devices.names()
    return dict(b=dict(
        id=b.id, title=b.title, state=b.state, start_at=b.start_at, priority=b.priority,
        targets=b.targets, created_by=b.created_by, approved_by=b.approved_by,
        reason=b.rejected_reason, sha=media.sha256 if media else None,
        duration_s=round(b.duration_ms / 1000, 1),
        loudness_in=media.loudness_in_lufs if media else None,
        loudness_out=media.loudness_out_lufs if media else None,
        summary=b.summary, pending=b.commands_pending, text=media.text if media else None,
        voice=media.voice if media else None,
        loudness_warning=media.loudness_warning if media else False,
        parts=(media.parts or []) if media else [], stream=b.stream, ended_at=b.ended_at,
        quiet_override=b.quiet_override,
        deliveries=[dict(device=d.device_id, name=names.get(d.device_id, d.device_id),
                         state=d.state, reason=d.reason, started_at=d.started_at,
                         joined_late_ms=d.joined_late_ms,
                         online=d.device_status) for d in b.deliveries]))


# --- pages ------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request, svc: ServicesDep, who: Principal = page("broadcast.read")
         ) -> HTMLResponse:
    """Today: what plays where (schedules and broadcasts), and whether the last one played."""
    return render(request, "home.html", who, **home_view(svc, lang_of(request)))


@router.get("/week", response_class=HTMLResponse)
def week(request: Request, svc: ServicesDep, who: Principal = page("schedule.read")
         ) -> HTMLResponse:
    return render(request, "week.html", who, **week_view(svc))


def send_view(svc: Services, form: dict[str, Any]) -> dict[str, Any]:
    return dict(zones=svc.zones.names(), form=form, voices=svc.speech.voices(),
                default_voice=svc.speech.default_voice(), languages=svc.speech.languages())


def _prefill(svc: Services, broadcast_id: str) -> dict[str, Any]:
    """A bulletin's fields again, to edit its text and send it once more."""
    b = svc.broadcasts.get(broadcast_id)
    if b.media_sha256 is None:
        raise NotFound("broadcast.not_found")  # a live or relay broadcast has no text
    media = svc.media.get(b.media_sha256)
    return dict(title=b.title, villages=[t.partition(":")[2] for t in b.targets
                                         if t.startswith("zone:")],
                content="text" if media.text else "audio", text=media.text or "",
                voice=media.voice, language=media.language, priority=b.priority)


@router.get("/send", response_class=HTMLResponse)
def send_form(request: Request, svc: ServicesDep, again: str = "",
              who: Principal = page("broadcast.create")) -> HTMLResponse:
    form = _prefill(svc, again) if again else {}
    return render(request, "send.html", who, errors=[], **send_view(svc, form))


def _file(value: Any) -> UploadFile | None:
    return value if isinstance(value, UploadFile) and value.filename else None


@router.post("/send", response_class=HTMLResponse)
async def send_submit(request: Request, svc: ServicesDep,
                      who: Principal = page("broadcast.create")) -> Response:
    """A file, a recording or a text + villages + time → a bulletin made in a job (its page
    shows the progress), then a broadcast; bad input changes nothing."""
    lang = lang_of(request)
    form = await request.form(max_files=2, max_fields=100)
    text_of = lambda key, default="": str(form.get(key, default)).strip()  # noqa: E731
    fields = dict(title=text_of("title"), villages=[str(v) for v in form.getlist("village")],
                  when=text_of("when", "now"), at=text_of("at"),
                  priority=text_of("priority", "normal"), content=text_of("content", "audio"),
                  text=str(form.get("text", "")), voice=text_of("voice"),
                  language=text_of("language", "vi"), extra_language=text_of("extra_language"),
                  quiet_override=form.get("quiet_override") == "1")
    upload, extra = _file(form.get("file")), _file(form.get("extra_file"))
    previewed = text_of("media_sha")
    errors = []
    if not fields["title"]:
        errors.append(translate("error.title_empty", lang))
    if not fields["villages"]:
        errors.append(translate("error.no_village", lang))
    if fields["content"] == "text":
        if not fields["text"].strip():
            errors.append(translate("send.no_text", lang))
    elif upload is None:
        errors.append(translate("error.no_file", lang))
    if extra is not None and not fields["extra_language"]:
        errors.append(translate("speech.unknown_language", lang, language=""))
    start_at = None
    if fields["when"] == "at":
        try:
            tz = ZoneInfo(svc.settings.timezone)
            start_at = datetime.fromisoformat(fields["at"]).replace(tzinfo=tz)
            if start_at <= utcnow():
                errors.append(translate("broadcast.past_time", lang))
        except ValueError:
            errors.append(translate("error.bad_time", lang))
    if fields["priority"] not in {p.value for p in Priority} - {"live"}:
        fields["priority"] = "normal"
    if errors:
        return render(request, "send.html", who, status_code=422, errors=errors,
                      **send_view(svc, fields))
    main_part = SpeechPart(fields["language"], fields["text"], fields["voice"] or None) \
        if fields["content"] == "text" else None
    targets, priority = [f"zone:{v}" for v in fields["villages"]], Priority(fields["priority"])
    request_for = dict(targets=targets, start_at=start_at, priority=priority,
                       title=fields["title"], quiet_override=bool(fields["quiet_override"]))
    try:
        if not fields["quiet_override"]:  # refused before anything is made
            svc.broadcasts.quiet_problem(targets, start_at, priority)
        if main_part is not None:
            svc.speech.check([main_part])  # refused at once: no voice for the language, ...
        received: list[Path] = []
        try:
            for f in (upload, extra):
                if f:
                    received.append(await svc.media.receive(f, f.filename or ""))
                    await run_in_threadpool(svc.media.check, received[-1])
        except DomainError:
            for path in received:
                path.unlink(missing_ok=True)
            raise
    except DomainError as exc:
        return render(request, "send.html", who, status_code=http_status(exc),
                      errors=[words(exc, lang)], **send_view(svc, fields))
    draft = form.get("action") == "draft"

    def make(progress: Any) -> tuple[MediaOut, bool]:
        """Every version, in order: the text (or file), then the added one."""
        parts: list[SpeechPart] = [main_part] if main_part and not previewed else []
        if main_part and previewed:
            parts.append(SpeechPart(fields["language"], media_sha256=previewed))
        for path, original in zip(received, [f for f in (upload, extra) if f], strict=True):
            media, _ = svc.media.ingest(who, path, original.filename or "", fields["title"])
            language = fields["extra_language"] if original is extra else fields["language"]
            parts.append(SpeechPart(language, media_sha256=media.sha256))
        if len(parts) == 1 and parts[0].media_sha256:
            return svc.media.get(parts[0].media_sha256), False
        return svc.speech.render(who, parts, fields["title"], progress=progress)

    def send(media: MediaOut) -> str:
        return svc.broadcasts.create(BroadcastRequest(media_sha256=media.sha256,
                                                      **request_for), who, draft=draft)

    def cleanup() -> None:
        for path in received:
            path.unlink(missing_ok=True)

    job = svc.media_jobs.start("speech" if main_part else "upload", who, fields["title"], make,
                               cleanup=cleanup, then=send)
    return RedirectResponse(f"/ui/jobs/{job.id}", status_code=303)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(job_id: str, request: Request, svc: ServicesDep,
             who: Principal = page("broadcast.read")) -> Response:
    """A bulletin being made: its stage and progress; its broadcast's page once it is sent."""
    job = svc.media_jobs.get(job_id)
    next_url = f"/ui/broadcasts/{job.broadcast_id}" if job.broadcast_id else ""
    if job.state == "done" and next_url and request.query_params.get("stay") is None:
        return RedirectResponse(next_url, status_code=303)
    lang = lang_of(request)
    stages = {stage: translate(f"job.stage.{stage}", lang) for stage in JOB_STAGES}
    return render(request, "job.html", who, job=job, next_url=next_url, stages=stages,
                  has_stage=lambda stage: stage in JOB_STAGES)


JOB_STAGES = ("queued", "starting", "speaking", "measuring", "encoding", "checking", "sending",
              "done")


@router.get("/broadcasts/{broadcast_id}", response_class=HTMLResponse)
def broadcast_page(broadcast_id: str, request: Request, svc: ServicesDep,
                   who: Principal = page("broadcast.read")) -> HTMLResponse:
    return render(request, "broadcast.html", who, **broadcast_view(svc, broadcast_id))


@router.get("/broadcasts/{broadcast_id}/progress", response_class=HTMLResponse)
def broadcast_progress(broadcast_id: str, request: Request, svc: ServicesDep,
                       who: Principal = page("broadcast.read")) -> HTMLResponse:
    return render(request, "_progress.html", who, **broadcast_view(svc, broadcast_id))
