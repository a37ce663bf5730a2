"""The routine (Lịch định kỳ): recurring schedules in words, and editing one in a form."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...auth import Principal
from ...container import Services
from ...domain.errors import NotFound
from ...domain.schedule_change import ScheduleChangeState
from ...http import ServicesDep
from ...i18n import translate
from ...schedules.model import ScheduleSpec
from .. import routine_form as routine
from ..render import lang_of, page, render

router = APIRouter(prefix="/ui", tags=["web"], include_in_schema=False)


# --- view builders ----------------------------------------------------------------------------


def schedule_changes_view(
    svc: Services, lang: str, titles: dict[str, str], decided: bool = False, place: Any = None
) -> list[dict[str, Any]]:
    """Schedule edits told in words (what, when, where): the pending ones, oldest first, or
    the last ten decided (with who decided and why), for approvers and editors."""
    changes = (
        svc.schedule_changes.list(decided=True, limit=10)
        if decided
        else svc.schedule_changes.list(state="pending")
    )
    stored = {s.name: s for s in svc.schedules.current().schedules}
    if place is None:
        names = svc.zones.names()

        def place(targets: list[str]) -> str:
            return ", ".join(
                translate("target.all", lang) if t == "all" else names.get(t.partition(":")[2], t)
                for t in targets
            )

    out = []
    for c in changes:
        item = dict(
            id=c.id,
            kind=c.kind,
            name=c.name,
            created_by=c.created_by,
            created_at=c.created_at,
            state=c.state,
            decided_by=c.decided_by,
            decided_at=c.decided_at,
            reason=c.reason,
            what=translate(
                f"routine.change.{c.kind}", lang, count=len(c.content.get("schedules", []))
            ),
        )
        spec = c.spec
        if spec is not None:
            item.update(
                title=spec.title,
                when=routine.repetition(spec, lang),
                targets=list(spec.targets),
                programme=routine.programme_words(spec, titles, lang),
                listen=routine.media_of(spec),
            )
            before = stored.get(spec.name)
            if before is not None and c.state == ScheduleChangeState.pending:
                item["changes"] = routine.differences(before, spec, titles, lang, place)
        out.append(item)
    return out


def routine_view(svc: Services, lang: str, done: str, name: str) -> dict[str, Any]:
    titles = svc.media.titles()
    schedules = [
        dict(
            name=spec.name,
            title=spec.title,
            when=routine.repetition(spec, lang),
            targets=list(spec.targets),
            priority=spec.priority,
            programme=routine.programme_words(spec, titles, lang),
            valid=(spec.valid_from, spec.valid_until),
        )
        for spec in sorted(svc.schedules.current().schedules, key=lambda s: s.start)
    ]
    notice = ""
    if done in ("saved", "deleted", "proposed", "unchanged"):
        notice = translate(f"routine.{done}", lang, name=name)
    return dict(
        schedules=schedules,
        notice=notice,
        pending=schedule_changes_view(svc, lang, titles),
        decided=schedule_changes_view(svc, lang, titles, decided=True),
    )


def _media_choices(svc: Services) -> list[dict[str, Any]]:
    return [
        dict(
            sha=m.sha256,
            title=m.title or m.original_filename or m.sha256[:12],
            duration=f"{m.duration_ms // 60000}:{m.duration_ms // 1000 % 60:02d}",
        )
        for m in svc.media.list(limit=300)
    ]


def _stored_spec(svc: Services, name: str) -> ScheduleSpec:
    for spec in svc.schedules.current().schedules:
        if spec.name == name:
            return spec
    raise NotFound("schedule.not_found", name=name)


def _form_page(
    request: Request,
    svc: Services,
    who: Principal,
    form: routine.RoutineForm,
    editing: bool,
    errors: list[str],
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "routine_edit.html",
        who,
        status_code=status_code,
        form=form,
        editing=editing,
        errors=errors,
        zones=svc.zones.names(),
        media=_media_choices(svc),
        voices=svc.speech.voices(),
        default_voice=svc.speech.default_voice(),
        weekdays=routine.WEEKDAYS,
        priorities=routine.PRIORITIES,
    )


def _form_from_post(data: Any) -> routine.RoutineForm:
    def text(key: str) -> str:
        return str(data.get(key, ""))

    editing = text("original") != ""
    form = routine.RoutineForm(
        name=text("original") if editing else text("name").strip(),
        title=text("title"),
        villages=[str(v) for v in data.getlist("villages")],
        priority=text("priority"),
        start=text("start"),
        repeat=text("repeat"),
        days=[str(d) for d in data.getlist("days")],
        date=text("date"),
        rrule=text("rrule"),
        valid_from=text("valid_from"),
        valid_until=text("valid_until"),
        except_dates=text("except_dates"),
        slot_minutes=text("slot_minutes"),
        items=[
            dict(
                kind=text(f"item-{i}")
                if text(f"item-{i}") in ("relay", "text")
                else "media"
                if text(f"item-{i}")
                else "",
                sha=text(f"item-{i}") if text(f"item-{i}") not in ("relay", "text") else "",
                url=text(f"url-{i}"),
                minutes=text(f"minutes-{i}"),
                fallback=text(f"fallback-{i}"),
                text=text(f"text-{i}"),
                voice=text(f"voice-{i}"),
            )
            for i in sorted(int(k[5:]) for k in data if k.startswith("item-") and k[5:].isdigit())[
                :100
            ]
        ],
    )
    form.items = [row for row in form.items if row["kind"]]
    form.extra_rows = min(20, int(text("extra_rows") or 0) if text("extra_rows").isdigit() else 0)
    return form


# --- pages ------------------------------------------------------------------------------------


@router.get("/routine", response_class=HTMLResponse)
def routine_page(
    request: Request,
    svc: ServicesDep,
    done: str = "",
    name: str = "",
    who: Principal = page("schedule.read"),
) -> HTMLResponse:
    """The recurring schedules in words, and the edits waiting for an approver."""
    return render(request, "routine.html", who, **routine_view(svc, lang_of(request), done, name))


@router.get("/routine/new", response_class=HTMLResponse)
def routine_new(
    request: Request, svc: ServicesDep, who: Principal = page("schedule.write")
) -> HTMLResponse:
    blank = routine.RoutineForm(start="06:00", days=[])
    return _form_page(request, svc, who, blank, editing=False, errors=[])


@router.get("/routine/{name}/edit", response_class=HTMLResponse)
def routine_edit(
    name: str, request: Request, svc: ServicesDep, who: Principal = page("schedule.write")
) -> HTMLResponse:
    form = routine.form_from_spec(_stored_spec(svc, name))
    return _form_page(request, svc, who, form, editing=True, errors=[])


@router.post("/routine", response_class=HTMLResponse)
async def routine_save(
    request: Request, svc: ServicesDep, who: Principal = page("schedule.write")
) -> Response:
    """Check the form, then apply it (approvers) or propose it (broadcasters); any problem is
    shown on the form and nothing changes."""
    lang = lang_of(request)
    data = await request.form()
    editing = str(data.get("original", "")) != ""
    form = _form_from_post(data)
    if data.get("action") == "add_row":  # one more programme row; nothing is saved
        form.extra_rows += 1
        return _form_page(request, svc, who, form, editing, [])
    stored = {s.name: s for s in (await run_in_threadpool(svc.schedules.current)).schedules}
    derived = not editing and not form.name
    if derived:  # the code is made from the title (again on the next try, if this fails)
        form.name = routine.derive_name(form.title, set(stored))
    try:
        if editing and form.name not in stored:
            raise NotFound("schedule.not_found", name=form.name)
        if not editing and form.name in stored:
            raise routine.FormProblems([translate("routine.exists", lang, name=form.name)])
        spec = routine.spec_from_form(form, lang, stored.get(form.name) if editing else None)
        outcome = await run_in_threadpool(
            svc.schedule_changes.change, who, "put", spec.name, spec.model_dump(mode="json")
        )
    except routine.FormProblems as exc:
        form.name = "" if derived else form.name
        return _form_page(request, svc, who, form, editing, exc.messages, 422)
    if outcome.problems:
        form.name = "" if derived else form.name
        problems = [
            f"{translate('routine.problem.' + p.code, lang)}"
            f"{'' if p.schedule == spec.name else ' (' + p.schedule + ')'}: {p.message}"
            for p in outcome.problems
        ]
        return _form_page(request, svc, who, form, editing, problems, 422)
    done = "proposed" if outcome.pending_change else ("saved" if outcome.applied else "unchanged")
    return RedirectResponse(f"/ui/routine?done={done}&name={spec.name}", status_code=303)


@router.post("/routine/{name}/delete", response_class=HTMLResponse)
def routine_delete(
    name: str, request: Request, svc: ServicesDep, who: Principal = page("schedule.write")
) -> Response:
    outcome = svc.schedule_changes.change(who, "delete", name, {})
    done = "proposed" if outcome.pending_change else "deleted"
    return RedirectResponse(f"/ui/routine?done={done}&name={name}", status_code=303)
