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

from ... import charts as svg
from ...auth import Principal
from ...container import Services
from ...domain.broadcast import BroadcastState
from ...domain.device import DeviceStatus
from ...domain.errors import DomainError, NotFound
from ...domain.jobs import MediaJobState
from ...domain.outcome import (
    OUTCOME_ORDER,
    RESENDABLE,
    dead_lines,
    outcome,
    summarise,
)
from ...errors import http_status
from ...http import ServicesDep
from ...i18n import heard_words, local_time, reason_words, translate
from ...services.broadcasting import BroadcastRequest
from ...services.coverage import heard_map, village_coverage
from ...services.speech import SpeechPart
from ...services.views import MediaOut
from ..render import lang_of, page, render, words
from .pinned import sms_view

router = APIRouter(prefix="/ui", tags=["web"], include_in_schema=False)


# --- view builders ----------------------------------------------------------------------------


def _today(svc: Services) -> tuple[datetime, datetime]:
    tz = ZoneInfo(svc.settings.timezone)
    start = datetime.combine(utcnow().astimezone(tz).date(), datetime.min.time(), tz)
    return start, start + timedelta(days=1)


def home_view(svc: Services, lang: str) -> dict[str, Any]:
    """Today's programme, the last bulletins, and whether each village heard its latest."""
    start, end = _today(svc)
    recent = svc.broadcast_queries.list(limit=10, by_creation=True)
    return dict(
        plan=svc.programme.between(start, end),
        recent=recent,
        villages=village_coverage(svc.sessions),
        outcomes=[o.value for o in OUTCOME_ORDER],
        unreachable=svc.devices.unreachable(),
        heard_map=_heard_map(svc, lang),
    )


def _heard_map(svc: Services, lang: str) -> str | None:
    """Each cluster's latest play as its microphone heard it, on the map (None: no cluster
    has a microphone)."""
    points = heard_map(svc.sessions)
    if not points:
        return None
    return svg.cluster_map(
        [
            (
                f"{p.name}: {heard_words(p.hearing, lang)}",
                p.lat,
                p.lon,
                f"heard-{p.hearing.get('verdict', 'none')}",
            )
            for p in points
        ],
        translate("heard.map", lang),
    )


def week_view(svc: Services) -> dict[str, Any]:
    """The next 7 days as a calendar: one column per day."""
    tz = ZoneInfo(svc.settings.timezone)
    today = utcnow().astimezone(tz).date()
    start = datetime.combine(today, datetime.min.time(), tz)
    days: list[dict[str, Any]] = [dict(date=today + timedelta(days=i), items=[]) for i in range(7)]
    for item in svc.programme.between(start, start + timedelta(days=7)):
        days[(item.start.date() - today).days]["items"].append(item)
    return dict(days=days)


def _offline_words(since: datetime | None, lang: str, tz: str) -> str:
    """What a loudspeaker still waiting for a bulletin does while its link is lost."""
    if since is None:
        return translate("broadcast.never_connected_waiting", lang)
    return translate("broadcast.offline_waiting", lang, since=local_time(since.isoformat(), tz))


def broadcast_view(svc: Services, broadcast_id: str, lang: str) -> dict[str, Any]:
    """A bulletin and where it stands on every loudspeaker, by name, in words."""
    b = svc.broadcast_queries.get(broadcast_id)
    media = svc.media.get(b.media_sha256) if b.media_sha256 else None  # a stream has none
    names = svc.devices.names()
    offline = svc.devices.offline_since()
    tz = svc.settings.timezone
    outcomes = [outcome(d.state, d.line_check) for d in b.deliveries]
    deliveries = [
        dict(
            device=d.device_id,
            name=names.get(d.device_id, d.device_id),
            state=d.state,
            outcome=o.value,
            dead_lines=", ".join(str(n) for n in dead_lines(d.line_check)),
            heard=heard_words(d.hearing, lang),
            verdict=(d.hearing or {}).get("verdict"),
            reason=reason_words(d.reason, lang, tz)
            if o.value != "waiting" or d.device_id not in offline
            else None
            if BroadcastState(b.state) == BroadcastState.expired  # (it will not play: no news)
            else _offline_words(offline[d.device_id], lang, tz),
            started_at=d.started_at,
            joined_late_ms=d.joined_late_ms,
            online=d.device_status,
        )
        for d, o in zip(b.deliveries, outcomes, strict=True)
    ]
    return dict(
        b=dict(
            id=b.id,
            title=b.title,
            state=b.state,
            start_at=b.start_at,
            priority=b.priority,
            on_release=b.start_on_release and b.state.startswith("pending"),
            targets=b.targets,
            created_by=b.created_by,
            approved_by=b.approved_by,
            reason=b.rejected_reason,
            settled=b.settled,
            sent=b.sent_at is not None,
            reschedule_default=_next_quarter_hour(tz),
            sha=media.sha256 if media else None,
            duration_s=round(b.duration_ms / 1000, 1),
            loudness_in=media.loudness_in_lufs if media else None,
            loudness_out=media.loudness_out_lufs if media else None,
            summary=b.summary,
            pending=b.commands_pending,
            text=media.text if media else None,
            voice=media.voice if media else None,
            loudness_warning=media.loudness_warning if media else False,
            loudness_target=svc.settings.loudness_target_lufs,
            loudness_off=(media.loudness_out_lufs or 0) - svc.settings.loudness_target_lufs
            if media
            else 0.0,
            # its author can still make it again: a warning is worth saying only then
            editable=BroadcastState(b.state)
            in {BroadcastState.draft, BroadcastState.rejected, BroadcastState.expired}
            or BroadcastState(b.state) in BroadcastState.held(),
            parts=(media.parts or []) if media else [],
            stream=b.stream,
            ended_at=b.ended_at,
            quiet_override=b.quiet_override,
            deliveries=deliveries,
            outcomes=summarise(outcomes),
            resendable=[
                d.device_id for d, o in zip(b.deliveries, outcomes, strict=True) if o in RESENDABLE
            ],
            still_offline=", ".join(
                names.get(d.device_id, d.device_id)
                for d, o in zip(b.deliveries, outcomes, strict=True)
                if o in RESENDABLE and d.device_id in offline
            ),
        ),
        outcome_order=[o.value for o in OUTCOME_ORDER],
        sms=sms_view(svc, b, names, lang, tz) if b.priority == "emergency" else None,
    )


def _next_quarter_hour(tz: str) -> str:
    """What a new time for an expired bulletin starts as: the first quarter hour at least
    ten minutes from now, station time, as a ``datetime-local`` value."""
    at = utcnow().astimezone(ZoneInfo(tz)) + timedelta(minutes=10)
    at += timedelta(minutes=-at.minute % 15)
    return f"{at:%Y-%m-%dT%H:%M}"


# --- pages ------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(
    request: Request, svc: ServicesDep, who: Principal = page("broadcast.read")
) -> HTMLResponse:
    """Today: what plays where (schedules and broadcasts), and whether the last one played."""
    return render(request, "home.html", who, **home_view(svc, lang_of(request)))


@router.get("/week", response_class=HTMLResponse)
def week(
    request: Request, svc: ServicesDep, who: Principal = page("schedule.read")
) -> HTMLResponse:
    return render(request, "week.html", who, **week_view(svc))


def send_view(svc: Services, form: dict[str, Any]) -> dict[str, Any]:
    """The form, and per village the loudspeakers that may not play (offline, stopped, or
    with an alarm open): the sender is told before sending, not after."""
    unwell: dict[str, list[str]] = {}
    for d in svc.devices.list(include_retired=False):
        if d.status != DeviceStatus.online or d.active_alarms:
            for z in d.zones:
                unwell.setdefault(z, []).append(d.name or d.id)
    return dict(
        zones=svc.zones.names(),
        form={"public": svc.station.get().public_by_default, **form},
        voices=svc.speech.voices(),
        default_voice=svc.speech.default_voice(),
        languages=svc.speech.languages(),
        unwell=unwell,
        zone_languages=svc.zones.languages(),  # who hears which version, shown before sending
        language_names={c["code"]: c["name_vi"] for c in svc.speech.languages()},
    )


def _prefill(svc: Services, broadcast_id: str) -> dict[str, Any]:
    """A bulletin's fields again, to edit its text and send it once more."""
    b = svc.broadcast_queries.get(broadcast_id)
    if b.media_sha256 is None:
        raise NotFound("broadcast.not_found")  # a live or relay broadcast has no text
    media = svc.media.get(b.media_sha256)
    villages = (
        ["*"]
        if "all" in b.targets
        else [t.partition(":")[2] for t in b.targets if t.startswith("zone:")]
    )
    return dict(
        title=b.title,
        villages=villages,
        content="text" if media.text else "audio",
        text=media.text or "",
        voice=media.voice,
        language=media.language,
        priority=b.priority,
        kept_sha="" if media.text else media.sha256,
        kept_name="" if media.text else media.original_filename or media.title,
    )


@router.get("/send", response_class=HTMLResponse)
def send_form(
    request: Request, svc: ServicesDep, again: str = "", who: Principal = page("broadcast.create")
) -> HTMLResponse:
    form = _prefill(svc, again) if again else {}
    return render(request, "send.html", who, errors=[], **send_view(svc, form))


def _stored(svc: Services, sha256: str) -> bool:
    try:
        svc.media.get(sha256)
    except NotFound:
        return False
    return True


async def _keep(svc: Services, who: Principal, upload: UploadFile, title: str) -> dict[str, str]:
    """Store a chosen file while the form is sent back with an error, so it is not lost
    (browsers cannot fill a file field again). Nothing if the file itself is refused."""
    try:
        path = await svc.media.receive(upload, upload.filename or "")
        try:
            await run_in_threadpool(svc.media.check, path)
            media, _ = await run_in_threadpool(
                svc.media.ingest, who, path, upload.filename or "", title or None
            )
        finally:
            path.unlink(missing_ok=True)
    except DomainError:
        return {}
    return dict(kept_sha=media.sha256, kept_name=upload.filename or media.title)


def _file(value: Any) -> UploadFile | None:
    return value if isinstance(value, UploadFile) and value.filename else None


@router.post("/send", response_class=HTMLResponse)
async def send_submit(
    request: Request, svc: ServicesDep, who: Principal = page("broadcast.create")
) -> Response:
    """A file, a recording or a text + villages + time → a bulletin made in a job (its page
    shows the progress), then a broadcast; bad input changes nothing."""
    lang = lang_of(request)
    form = await request.form(max_files=2, max_fields=100)
    text_of = lambda key, default="": str(form.get(key, default)).strip()  # noqa: E731
    fields = dict(
        title=text_of("title"),
        villages=[str(v) for v in form.getlist("village")],
        when=text_of("when", "now"),
        at=text_of("at"),
        priority=text_of("priority", "normal"),
        content=text_of("content", "audio"),
        text=str(form.get("text", "")),
        voice=text_of("voice"),
        language=text_of("language", "vi"),
        extra_language=text_of("extra_language"),
        quiet_override=form.get("quiet_override") == "1",
        public=form.get("public") == "1",
    )
    upload, extra = _file(form.get("file")), _file(form.get("extra_file"))
    previewed = text_of("media_sha")
    kept = text_of("kept_sha") if upload is None else ""  # the file chosen before an error
    if kept and not _stored(svc, kept):
        kept = ""
    fields.update(kept_sha=kept, kept_name=text_of("kept_name") if kept else "")
    errors = []
    if not fields["title"]:
        errors.append(translate("error.title_empty", lang))
    if not fields["villages"]:
        errors.append(translate("error.no_village", lang))
    if fields["content"] == "text":
        if not fields["text"].strip():
            errors.append(translate("send.no_text", lang))
    elif upload is None and not kept:
        errors.append(translate("error.no_file", lang))
    if extra is not None and not fields["extra_language"]:
        errors.append(translate("speech.unknown_language", lang, language=""))
    start_at = None
    if fields["at"]:  # a typed time is honoured even if "at" was not ticked
        fields["when"] = "at"
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
        if upload is not None and fields["content"] != "text":
            fields.update(await _keep(svc, who, upload, fields["title"]))
        return render(
            request, "send.html", who, status_code=422, errors=errors, **send_view(svc, fields)
        )
    main_part = (
        SpeechPart(fields["language"], fields["text"], fields["voice"] or None)
        if fields["content"] == "text"
        else None
    )
    targets = ["all"] if "*" in fields["villages"] else [f"zone:{v}" for v in fields["villages"]]
    priority = Priority(fields["priority"])
    request_for = dict(
        targets=targets,
        start_at=start_at,
        priority=priority,
        title=fields["title"],
        quiet_override=bool(fields["quiet_override"]),
        public=bool(fields["public"]),
    )
    try:
        if not fields["quiet_override"]:  # refused before anything is made
            svc.broadcast_times.quiet_problem(targets, start_at, priority)
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
        return render(
            request,
            "send.html",
            who,
            status_code=http_status(exc),
            errors=[words(exc, lang)],
            **send_view(svc, fields),
        )
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
        if kept and not received and fields["content"] != "text":
            parts.insert(0, SpeechPart(fields["language"], media_sha256=kept))
        if len(parts) == 1 and parts[0].media_sha256:
            return svc.media.get(parts[0].media_sha256), False
        return svc.speech.render(who, parts, fields["title"], progress=progress)

    def send(media: MediaOut) -> str:
        return svc.broadcasts.create(
            BroadcastRequest(media_sha256=media.sha256, **request_for), who, draft=draft
        )

    def cleanup() -> None:
        for path in received:
            path.unlink(missing_ok=True)

    job = svc.media_jobs.start(
        "speech" if main_part else "upload", who, fields["title"], make, cleanup=cleanup, then=send
    )
    return RedirectResponse(f"/ui/jobs/{job.id}", status_code=303)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(
    job_id: str, request: Request, svc: ServicesDep, who: Principal = page("broadcast.read")
) -> Response:
    """A bulletin being made: its stage and progress; its broadcast's page once it is sent."""
    job = svc.media_jobs.get(job_id)
    next_url = f"/ui/broadcasts/{job.broadcast_id}" if job.broadcast_id else ""
    if job.state == MediaJobState.done and next_url and request.query_params.get("stay") is None:
        return RedirectResponse(next_url, status_code=303)
    lang = lang_of(request)
    stages = {stage: translate(f"job.stage.{stage}", lang) for stage in JOB_STAGES}
    return render(
        request,
        "job.html",
        who,
        job=job,
        next_url=next_url,
        stages=stages,
        has_stage=lambda stage: stage in JOB_STAGES,
    )


JOB_STAGES = (
    "queued",
    "starting",
    "speaking",
    "measuring",
    "encoding",
    "checking",
    "sending",
    "done",
)


HISTORY_PAGE = 25


@router.get("/broadcasts", response_class=HTMLResponse)
def history(
    request: Request,
    svc: ServicesDep,
    q: str = "",
    village: str = "",
    state: str = "",
    priority: str = "",
    day: str = "",
    page_no: int = 1,
    who: Principal = page("broadcast.read"),
) -> HTMLResponse:
    """Every bulletin, newest first: search by title, filter by village, day, state and
    priority, 25 a page."""
    tz = ZoneInfo(svc.settings.timezone)
    since = until = None
    try:
        if day:
            since = datetime.combine(
                datetime.strptime(day, "%Y-%m-%d").date(), datetime.min.time(), tz
            )
            until = since + timedelta(days=1)
    except ValueError:
        day = ""
    page_no = max(1, min(page_no, 10_000))
    rows, total = svc.broadcast_queries.search(
        q[:100],
        village if village in svc.zones.names() else "",
        state if state in {s.value for s in BroadcastState} else "",
        priority if priority in {p.value for p in Priority} else "",
        since,
        until,
        offset=(page_no - 1) * HISTORY_PAGE,
        limit=HISTORY_PAGE,
    )
    pages = max(1, -(-total // HISTORY_PAGE))
    return render(
        request,
        "history.html",
        who,
        rows=rows,
        total=total,
        page_no=page_no,
        pages=pages,
        zones=svc.zones.names(),
        states=[s.value for s in BroadcastState],
        priorities=[p.value for p in Priority],
        f=dict(q=q, village=village, state=state, priority=priority, day=day),
    )


@router.get("/broadcasts/{broadcast_id}", response_class=HTMLResponse)
def broadcast_page(
    broadcast_id: str, request: Request, svc: ServicesDep, who: Principal = page("broadcast.read")
) -> HTMLResponse:
    return render(
        request, "broadcast.html", who, **broadcast_view(svc, broadcast_id, lang_of(request))
    )


@router.get("/broadcasts/{broadcast_id}/progress", response_class=HTMLResponse)
def broadcast_progress(
    broadcast_id: str, request: Request, svc: ServicesDep, who: Principal = page("broadcast.read")
) -> HTMLResponse:
    return render(
        request, "_progress.html", who, **broadcast_view(svc, broadcast_id, lang_of(request))
    )
