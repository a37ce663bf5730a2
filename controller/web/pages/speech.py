"""The station's reading: its default voice and its own abbreviations, with a try-out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from ...auth import Principal, allowed
from ...container import Services
from ...domain.errors import DomainError, Invalid
from ...http import ServicesDep
from ...i18n import translate
from ...media.tts.normalise import ABBREVIATIONS
from ..render import lang_of, page, render, words

router = APIRouter(prefix="/ui", tags=["web"], include_in_schema=False)


def lexicon_text(entries: dict[str, str]) -> str:
    return "\n".join(f"{word} = {said}" for word, said in sorted(entries.items()))


def parse_lexicon(text: str, lang: str) -> tuple[dict[str, str], list[str]]:
    """``WORD = how it is read``, one per line; blank lines and ``#`` comments are skipped.
    Returns the entries and, for each line that is not of that shape, why."""
    entries: dict[str, str] = {}
    errors: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, sep, said = line.partition("=")
        if not sep or not word.strip() or not said.strip():
            errors.append(translate("speech.bad_line", lang, line=number))
            continue
        entries[word.strip()] = said.strip()
    return entries, errors


def speech_view(
    svc: Services,
    lexicon: str | None = None,
    sample: str = "",
    trying: dict[str, str] | None = None,
) -> dict[str, Any]:
    return dict(
        voices=svc.speech.voices(),
        installed=svc.speech.installed_voices(),
        default_voice=svc.speech.default_voice(),
        lexicon=lexicon if lexicon is not None else lexicon_text(svc.speech.lexicon()),
        builtin=sorted(ABBREVIATIONS.items()),
        sample=sample,
        said=svc.speech.said(sample, trying) if sample.strip() else "",
    )


@router.get("/speech", response_class=HTMLResponse)
def speech_page(
    request: Request, svc: ServicesDep, who: Principal = page("speech.lexicon")
) -> HTMLResponse:
    return render(request, "speech.html", who, errors=[], saved=False, **speech_view(svc))


def _refused(request: Request, svc: Services, who: Principal, exc: DomainError) -> Response:
    """The page again, saying why a voice was not added or removed."""
    return render(
        request,
        "speech.html",
        who,
        status_code=422,
        errors=[words(exc, lang_of(request))],
        saved=False,
        **speech_view(svc),
    )


@router.post("/speech/voices", response_class=HTMLResponse)
async def speech_add_voice(
    request: Request, svc: ServicesDep, who: Principal = page("speech.settings")
) -> Response:
    """The voice form: a Piper model and its config kept, or the page again with why."""
    form = await request.form(max_files=2, max_fields=3)
    model, config = form.get("model"), form.get("config")
    try:
        if not (
            isinstance(model, UploadFile)
            and isinstance(config, UploadFile)
            and model.filename
            and config.filename
        ):
            raise Invalid("speech.voice_files_missing")
        work = await svc.speech.receive_voice(model, config)
        await run_in_threadpool(svc.speech.add_received_voice, who, work, model.filename)
    except DomainError as exc:
        return _refused(request, svc, who, exc)
    return RedirectResponse("/ui/speech#voices", status_code=303)


@router.post("/speech/voices/remove", response_class=HTMLResponse)
async def speech_remove_voice(
    request: Request, svc: ServicesDep, who: Principal = page("speech.settings")
) -> Response:
    form = await request.form()
    try:
        svc.speech.remove_voice(who, str(form.get("voice", ""))[:80])
    except DomainError as exc:
        return _refused(request, svc, who, exc)
    return RedirectResponse("/ui/speech#voices", status_code=303)


@router.post("/speech", response_class=HTMLResponse)
async def speech_save(
    request: Request, svc: ServicesDep, who: Principal = page("speech.lexicon")
) -> Response:
    """Save the lexicon (and, for an admin, the default voice), or only try a sentence;
    a bad line changes nothing."""
    lang = lang_of(request)
    form = await request.form()
    lexicon = str(form.get("lexicon", ""))
    sample = str(form.get("sample", ""))[:2000]
    entries, errors = parse_lexicon(lexicon, lang)
    saved = False
    if not errors and form.get("action") != "try":
        try:
            voice = str(form.get("default_voice", "")).strip()
            if (
                voice
                and allowed(who.roles, "speech.settings")
                and voice != svc.speech.default_voice()
            ):
                svc.speech.set_default_voice(who, voice)
            svc.speech.set_lexicon(who, entries)
            saved = True
        except DomainError as exc:
            errors.append(words(exc, lang))
    status = 422 if errors else 200
    return render(
        request,
        "speech.html",
        who,
        status_code=status,
        errors=errors,
        saved=saved,
        **speech_view(
            svc,
            lexicon=None if saved else lexicon,
            sample=sample,
            trying=None if saved or errors else entries,
        ),
    )
