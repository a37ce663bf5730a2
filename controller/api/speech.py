"""Text to speech: voices and languages, the station's lexicon and default voice, bulletins
spoken from text (a job with progress), and media jobs."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, model_validator
from starlette.datastructures import UploadFile

from ..auth import Principal
from ..domain.errors import Invalid
from ..domain.jobs import MediaJobState
from ..http import ServicesDep, allow
from ..media.tts.piper import InstalledVoice
from ..services.speech import SpeechPart
from ..services.views import InstalledVoiceOut, JobOut, LanguageOut, VoiceOut

router = APIRouter(tags=["speech"])

WAIT_MAX_S = 600


class PartIn(BaseModel):
    language: str = Field("vi", max_length=16)
    text: str | None = Field(None, max_length=20_000)
    voice: str | None = Field(
        None, max_length=80, description="e.g. espeak:vi-vn-x-south; absent: the station's default"
    )
    media_sha256: str | None = Field(
        None, pattern=r"^[0-9a-f]{64}$", description="a recording already uploaded, instead of text"
    )

    @model_validator(mode="after")
    def _text_or_recording(self) -> PartIn:
        if (self.text is None) == (self.media_sha256 is None):
            raise ValueError("give a text or a recording (media_sha256), not both")
        return self


class SpeechIn(BaseModel):
    title: str = Field("", max_length=200)
    parts: list[PartIn] = Field(
        min_length=1, max_length=8, description="versions, played one after the other"
    )
    rate: int = Field(100, ge=50, le=200, description="percent of the voice's normal speed")


class LexiconIn(BaseModel):
    entries: dict[str, str] = Field(
        description='abbreviation → how it is read, e.g. {"HND": "Hội Nông dân"}'
    )


class VoiceIn(BaseModel):
    voice: str = Field(max_length=80)


class SaidIn(BaseModel):
    text: str = Field(max_length=20_000)


class SaidOut(BaseModel):
    said: str = Field(description="the text as the voice reads it")


@router.get("/api/speech/voices", response_model=list[VoiceOut], dependencies=[allow("media.read")])
def voices(svc: ServicesDep) -> list[VoiceOut]:
    default = svc.speech.default_voice()
    return [
        VoiceOut(
            id=v.id,
            language=v.language,
            name_vi=v.name_vi,
            name_en=v.name_en,
            default=v.id == default,
        )
        for v in svc.speech.voices()
    ]


@router.get(
    "/api/speech/languages", response_model=list[LanguageOut], dependencies=[allow("media.read")]
)
def languages(svc: ServicesDep) -> list[LanguageOut]:
    """The languages a bulletin can be in; ``tts`` false: record a version in it instead."""
    return [LanguageOut(**lang) for lang in svc.speech.languages()]


@router.post("/api/speech/said", response_model=SaidOut, dependencies=[allow("media.read")])
def said(body: SaidIn, svc: ServicesDep) -> SaidOut:
    """How a text will be read: numbers, dates, units and abbreviations in words."""
    return SaidOut(said=svc.speech.said(body.text))


@router.post(
    "/api/speech",
    response_model=JobOut,
    status_code=202,
    responses={200: {"model": JobOut, "description": "done (with ?wait=true)"}},
)
def speak(
    body: SpeechIn,
    response: Response,
    svc: ServicesDep,
    wait: bool = Query(False, description="answer when it is done (up to 10 min)"),
    who: Principal = allow("media.upload"),
) -> JobOut:
    """Speak a bulletin (one or several language versions) as a job; ``GET /api/jobs/{id}``
    follows it; its ``media`` is then sent like any upload."""
    parts = [SpeechPart(p.language, p.text, p.voice, p.media_sha256) for p in body.parts]
    svc.speech.check(parts)  # refusals (unknown voice, no voice for the language) at once
    job = svc.media_jobs.start(
        "speech",
        who,
        body.title or (parts[0].text or "")[:80],
        lambda progress: svc.speech.render(who, parts, body.title, body.rate, progress),
    )
    if wait:
        job = svc.media_jobs.wait(job.id, WAIT_MAX_S)
        if MediaJobState(job.state).finished:
            response.status_code = 200
    return job


@router.get(
    "/api/speech/lexicon", response_model=dict[str, str], dependencies=[allow("media.read")]
)
def lexicon(svc: ServicesDep) -> dict[str, str]:
    """The station's own abbreviations (the built-in ones are always known)."""
    return svc.speech.lexicon()


@router.put("/api/speech/lexicon", response_model=dict[str, str])
def set_lexicon(
    body: LexiconIn, svc: ServicesDep, who: Principal = allow("speech.lexicon")
) -> dict[str, str]:
    return svc.speech.set_lexicon(who, body.entries)


@router.put("/api/speech/default-voice", response_model=VoiceIn)
def set_default_voice(
    body: VoiceIn, svc: ServicesDep, who: Principal = allow("speech.settings")
) -> VoiceIn:
    return VoiceIn(voice=svc.speech.set_default_voice(who, body.voice))


def installed_out(voice: InstalledVoice) -> InstalledVoiceOut:
    return InstalledVoiceOut(id=voice.id, **asdict(voice))


@router.get(
    "/api/speech/voices/installed",
    response_model=list[InstalledVoiceOut],
    dependencies=[allow("media.read")],
)
def installed_voices(svc: ServicesDep) -> list[InstalledVoiceOut]:
    """The Piper voices the station installed: language, quality, and speed here."""
    return [installed_out(v) for v in svc.speech.installed_voices()]


@router.post(
    "/api/speech/voices",
    status_code=201,
    response_model=InstalledVoiceOut,
    responses={
        413: {"description": "file too large"},
        422: {
            "description": "not a Piper voice, a config that does not fit it, or a "
            "language no village hears"
        },
    },
)
async def add_voice(
    request: Request, svc: ServicesDep, who: Principal = allow("speech.settings")
) -> InstalledVoiceOut:
    """Install a Piper voice: multipart ``model`` (FILE.onnx) and ``config``
    (FILE.onnx.json). Checked (config, language, a test sentence renders), then kept."""
    form = await request.form(max_files=2, max_fields=2)
    model, config = form.get("model"), form.get("config")
    if not isinstance(model, UploadFile) or not isinstance(config, UploadFile):
        raise Invalid("speech.voice_files_missing")
    work = await svc.speech.receive_voice(model, config)
    voice = await run_in_threadpool(
        svc.speech.add_received_voice, who, work, model.filename or "voice"
    )
    return installed_out(voice)


@router.delete("/api/speech/voices/{voice_id}", status_code=204)
def remove_voice(
    voice_id: str = PathParam(max_length=80),
    *,
    svc: ServicesDep,
    who: Principal = allow("speech.settings"),
) -> Response:
    svc.speech.remove_voice(who, voice_id)
    return Response(status_code=204)


@router.get("/api/jobs/{job_id}", response_model=JobOut, dependencies=[allow("media.read")])
def job(job_id: str, svc: ServicesDep) -> JobOut:
    """Where an upload's processing or a speech job stands."""
    return svc.media_jobs.get(job_id)
