"""Bulletins from text: Vietnamese normalisation, the station's voice and lexicon, several
language versions one after the other, then the same media pipeline as an upload — plans and
commands still carry only signed media hashes."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ..auth import Principal
from ..db.models import SiteSetting, Zone
from ..domain.errors import DomainError, Invalid, NotFound, TooLarge
from ..domain.languages import BETWEEN_VERSIONS_MS
from ..fsutil import AsyncReader, receive_upload
from ..media.compose import Piece, compose
from ..media.pipeline import Progress
from ..media.tts.engines import LANGUAGES, Engines, SpeechFailed, Voice
from ..media.tts.normalise import normalise
from ..media.tts.piper import CONFIG, MAX_MODEL_BYTES, MODEL, InstalledVoice, PiperEngine
from .audit import AuditLog
from .media import About, MediaService
from .routing import LanguageRouting
from .views import MediaOut

LEXICON_KEY = "tts_lexicon"
VOICE_KEY = "tts_default_voice"
MAX_TEXT = 20_000  # characters in one version (about 25 minutes of speech)
CHUNK = 400  # characters spoken at a time (progress; a long text is not one process)
GAP_MS = 250  # between chunks of one text
_WORD = re.compile(r"^[\wÀ-ỹĐđ.&/-]{1,20}$")


@dataclass(frozen=True)
class SpeechPart:
    """One version of a bulletin: a text to speak, or a stored recording, in ``language``."""

    language: str = "vi"
    text: str | None = None
    voice: str | None = None
    media_sha256: str | None = None


def _chunks(text: str) -> list[str]:
    """Sentences grouped up to ``CHUNK`` characters (a very long sentence on its own)."""
    sentences = [s.strip() for s in re.split(r"(?<=[.!?;:…])\s+|\n+", text) if s.strip()]
    chunks: list[str] = []
    for sentence in sentences:
        if chunks and len(chunks[-1]) + len(sentence) < CHUNK:
            chunks[-1] += " " + sentence
        else:
            chunks.append(sentence)
    return chunks


class SpeechService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        engines: Engines,
        media: MediaService,
        audit: AuditLog,
        default_voice: str,
    ):
        self._sessions = sessions
        self.engines = engines
        self._media = media
        self._audit = audit
        self._fallback_voice = default_voice
        self.routing = LanguageRouting(sessions, media)  # each village its own versions

    # --- what the station has ----------------------------------------------------------------

    def voices(self) -> list[Voice]:
        return self.engines.voices()

    def languages(self) -> list[dict[str, Any]]:
        """Every language a bulletin can be in, and whether an engine speaks it."""
        spoken = self.engines.languages_spoken()
        return [
            dict(code=code, name_vi=vi, name_en=en, tts=code in spoken)
            for code, (vi, en) in LANGUAGES.items()
        ]

    def _setting(self, key: str, default: Any) -> Any:
        with self._sessions() as session:
            row = session.get(SiteSetting, key)
            return row.value if row is not None else default

    def _store_setting(self, key: str, value: Any) -> None:
        with self._sessions.begin() as session:
            row = session.get(SiteSetting, key)
            if row is None:
                session.add(SiteSetting(key=key, value=value))
            else:
                row.value = value

    def default_voice(self) -> str:
        """The station's chosen voice; until it chooses, a neural Vietnamese voice if one is
        installed, else the configured one (espeak-ng)."""
        voice = self._setting(VOICE_KEY, None)
        if voice and self.engines.voice(voice):
            return str(voice)
        neural = self.engines.voice_for("vi")
        if neural is not None and neural.id.startswith("piper:"):
            return neural.id
        return self._fallback_voice

    def voice_for(self, language: str) -> str:
        """The voice a text in ``language`` is spoken with when none is chosen: the
        station's chosen default if it speaks it, else a neural voice, else espeak-ng."""
        found = self.engines.voice_for(language, self._setting(VOICE_KEY, None))
        return found.id if found is not None else self.default_voice()

    def set_default_voice(self, who: Principal, voice: str) -> str:
        if self.engines.voice(voice) is None:
            raise NotFound("speech.unknown_voice", voice=voice)
        self._store_setting(VOICE_KEY, voice)
        self._audit.record(who, "speech.voice", voice)
        return voice

    # --- Piper voices the station installs ----------------------------------------------------

    def _piper(self) -> PiperEngine:
        engine = self.engines.engine("piper")
        assert isinstance(engine, PiperEngine), "configured_engines always has piper"
        return engine

    def installed_voices(self) -> list[InstalledVoice]:
        return self._piper().installed()

    async def receive_voice(self, model: AsyncReader, config: AsyncReader) -> Path:
        """An uploaded model and config copied to a scratch directory (``add_voice``
        consumes it): ``model.onnx`` and ``model.onnx.json`` inside."""
        work = Path(tempfile.mkdtemp(prefix="loalang-voice-"))
        for upload, name, limit in ((model, MODEL, MAX_MODEL_BYTES), (config, CONFIG, 2**20)):
            try:
                await receive_upload(
                    upload,
                    work / name,
                    limit,
                    lambda limit=limit: TooLarge("upload.too_large", limit_mb=limit // 2**20),
                    lambda: Invalid("upload.empty"),
                )
            except DomainError:
                shutil.rmtree(work, ignore_errors=True)
                raise
        return work

    def add_received_voice(self, who: Principal, work: Path, filename: str) -> InstalledVoice:
        """``add_voice`` for what ``receive_voice`` kept; the scratch directory removed."""
        try:
            return self.add_voice(who, work / MODEL, work / CONFIG, filename)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def add_voice(self, who: Principal, model: Path, config: Path, name: str) -> InstalledVoice:
        """Check a Piper model and its config (a language some village hears, a test
        sentence renders) and keep them; refused with nothing kept otherwise."""
        with self._sessions() as session:
            heard = {"vi"} | {
                code for langs in session.scalars(select(Zone.languages)) for code in langs or []
            }
        try:
            voice = self._piper().install(model, config, name, heard)
        except SpeechFailed as exc:
            raise Invalid(exc.key, **exc.params) from None
        self._audit.record(
            who, "speech.voice_add", voice.id, language=voice.language, rtf=voice.rtf
        )
        return voice

    def remove_voice(self, who: Principal, voice_id: str) -> None:
        engine, _, name = voice_id.partition(":")
        if engine != "piper":
            raise Invalid("speech.voice_not_removable", voice=voice_id[:80])
        try:
            self._piper().remove(name)
        except SpeechFailed as exc:
            raise NotFound(exc.key, **exc.params) from None
        self._audit.record(who, "speech.voice_remove", voice_id)

    def lexicon(self) -> dict[str, str]:
        """The station's own abbreviations (added to, or replacing, the built-in ones)."""
        return dict(self._setting(LEXICON_KEY, {}))

    def set_lexicon(self, who: Principal, entries: dict[str, str]) -> dict[str, str]:
        clean: dict[str, str] = {}
        for word, said in entries.items():
            word, said = word.strip(), " ".join(said.split())
            if (
                not _WORD.match(word)
                or not said
                or len(said) > 200
                or any(c.isdigit() for c in said)
            ):
                raise Invalid("speech.bad_lexicon_entry", word=word[:40])
            clean[word] = said
        self._store_setting(LEXICON_KEY, clean)
        self._audit.record(who, "speech.lexicon", f"{len(clean)} entries")
        return clean

    def said(self, text: str, lexicon: dict[str, str] | None = None) -> str:
        """The text as the voice will read it (for a preview of the words); ``lexicon`` tries
        entries not yet stored in place of the station's."""
        return normalise(text, self.lexicon() if lexicon is None else lexicon)

    # --- speaking ----------------------------------------------------------------------------

    def check(self, parts: list[SpeechPart]) -> list[SpeechPart]:
        """The parts as they will be spoken (voices filled in); refuses what cannot be."""
        return self._check(parts)

    def _check(self, parts: list[SpeechPart]) -> list[SpeechPart]:
        if not parts:
            raise Invalid("speech.nothing")
        spoken = self.engines.languages_spoken()
        checked = []
        for part in parts:
            if part.language not in LANGUAGES:
                raise Invalid("speech.unknown_language", language=part.language[:20])
            if part.media_sha256:
                self._media.get(part.media_sha256)  # NotFound if it is not stored
                checked.append(part)
                continue
            text = (part.text or "").strip()
            if not text:
                raise Invalid("speech.empty_text")
            if len(text) > MAX_TEXT:
                raise Invalid("speech.text_too_long", max=MAX_TEXT)
            if part.language not in spoken:
                raise Invalid(
                    "speech.no_voice_for_language",
                    language=LANGUAGES[part.language][0],
                    spoken=", ".join(LANGUAGES[c][0] for c in sorted(spoken) if c in LANGUAGES)
                    or "-",
                )
            voice = part.voice or self.voice_for(part.language)
            found = self.engines.voice(voice)
            if found is None:
                raise NotFound("speech.unknown_voice", voice=voice)
            if found.language != part.language:
                raise Invalid("speech.voice_language", voice=voice)
            checked.append(SpeechPart(part.language, text, voice))
        return checked

    def render(
        self,
        who: Principal,
        parts: list[SpeechPart],
        title: str,
        rate: int = 100,
        progress: Progress | None = None,
    ) -> tuple[MediaOut, bool]:
        """Speak (or take) each version, join them, normalise and store the bulletin."""
        parts = self._check(parts)
        report: Callable[[str, float], None] = progress or (lambda stage, done: None)
        lexicon = self.lexicon()
        work = Path(tempfile.mkdtemp(prefix="loalang-tts-"))
        try:
            pieces: list[Piece] = []
            spoken = [p for p in parts if p.text]
            total = sum(len(_chunks(normalise(p.text or "", lexicon))) for p in spoken) or 1
            done = 0
            # each version's own audio, for villages that hear only some languages (a siren and
            # a text in one language stay one piece: nothing more is encoded on that path)
            several_languages = len({p.language for p in parts}) > 1
            apart: list[str | None] = []
            for index, part in enumerate(parts):
                if index:
                    pieces.append(Piece(silence_ms=BETWEEN_VERSIONS_MS))
                if part.media_sha256:
                    pieces.append(Piece(path=self._media.file(part.media_sha256)))
                    apart.append(part.media_sha256 if several_languages else None)
                    continue
                assert part.text is not None
                assert part.voice is not None
                own: list[Piece] = []
                for n, chunk in enumerate(_chunks(normalise(part.text, lexicon))):
                    if n:
                        own.append(Piece(silence_ms=GAP_MS))
                    out = work / f"{index}-{n}.wav"
                    try:
                        self.engines.synthesize(chunk, part.voice, rate, out)
                    except SpeechFailed as exc:
                        raise Invalid(exc.key, **exc.params) from None
                    own.append(Piece(path=out))
                    done += 1
                    report("speaking", 0.5 * done / total)
                pieces += own
                apart.append(
                    self._version(who, own, work / f"{index}.wav", title, part)
                    if several_languages
                    else None
                )
            joined = compose(pieces, work / "bulletin.wav")
            first = parts[0]
            spoken = [p.text for p in parts if p.text]  # a siren or a recording says no text
            about = About(
                language=first.language,
                text="\n\n".join(spoken) or None,
                voice=first.voice,
                parts=[
                    {
                        k: v
                        for k, v in dict(
                            language=p.language,
                            text=p.text,
                            voice=p.voice,
                            said=normalise(p.text, lexicon) if p.text else None,
                            media_sha256=p.media_sha256,
                            audio_sha256=own_audio,
                        ).items()
                        if v is not None
                    }
                    for p, own_audio in zip(parts, apart, strict=True)
                ],
            )
            made = self._media.ingest(
                who,
                joined,
                "tts.wav",
                title or (first.text or "")[:80],
                progress=lambda stage, fraction: report(stage, 0.5 + 0.5 * fraction),
                about=about,
            )
            if several_languages:
                self.routing.prepare(made[0].sha256)  # joined now: sending will not wait
            return made
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _version(
        self, who: Principal, pieces: list[Piece], out: Path, title: str, part: SpeechPart
    ) -> str:
        """One spoken version kept as its own audio, so villages can hear it alone."""
        name = LANGUAGES.get(part.language, ("?", "?"))[0]
        media, _ = self._media.ingest(
            who,
            compose(pieces, out),
            "tts.wav",
            f"{title or (part.text or '')[:60]} ({name})"[:200],
            about=About(language=part.language, text=part.text, voice=part.voice),
        )
        return media.sha256

    def refusal(self, part: SpeechPart) -> DomainError | None:
        """Why ``part`` cannot be spoken (for checks that report rather than raise), or None."""
        try:
            self._check([part])
        except DomainError as exc:
            return exc
        return None

    def spoken(self, who: Principal, part: SpeechPart, title: str) -> MediaOut:
        """The bulletin that says ``part``: one stored earlier with the same words, voice and
        reading, else spoken now (a schedule's text items, each time the schedule is applied)."""
        (part,) = self._check([part])
        assert part.text is not None
        assert part.voice is not None
        found = self._media.find_spoken(
            part.language, part.text, part.voice, normalise(part.text, self.lexicon())
        )
        return found or self.render(who, [part], title)[0]
