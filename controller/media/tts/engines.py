"""The TTS engine interface: text + voice + rate → an audio file. Engines are plug-ins chosen
by settings (``Settings.tts_*``); every voice is named ``engine:voice``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Voice:
    id: str  # "espeak:vi-vn-x-south"
    language: str  # what it speaks: "vi"
    name_vi: str
    name_en: str


class SpeechFailed(Exception):
    """The engine could not speak the text; ``key`` is a catalogue key."""

    def __init__(self, key: str, **params: object):
        super().__init__(key)
        self.key = key
        self.params = params


class TtsEngine(Protocol):
    name: str

    def voices(self) -> list[Voice]: ...

    def synthesize(self, text: str, voice: str, rate: int, out: Path) -> Path:
        """Speak ``text`` (already normalised) with ``voice`` (the part after ``engine:``)
        at ``rate`` (percent of the voice's normal speed) into an audio file at ``out``."""
        ...


LANGUAGES: dict[str, tuple[str, str]] = {
    "vi": ("Tiếng Việt", "Vietnamese"),
    "hmn": ("Tiếng H'Mông", "Hmong"),
    "tdd": ("Tiếng Thái", "Tai Dam"),
    "tyz": ("Tiếng Tày", "Tày"),
    "nut": ("Tiếng Nùng", "Nùng"),
    "mtq": ("Tiếng Mường", "Mường"),
    "km": ("Tiếng Khmer", "Khmer"),
    "rad": ("Tiếng Ê Đê", "Rade"),
    "jra": ("Tiếng Gia Rai", "Jarai"),
    "bdq": ("Tiếng Ba Na", "Bahnar"),
    "cjm": ("Tiếng Chăm", "Cham"),
    "en": ("Tiếng Anh", "English"),
}
"""Languages a bulletin can be in (BCP 47 / ISO 639-3). Where no engine speaks one, a version
in it is recorded instead."""


class Engines:
    """The engines this controller has, by name; voices across them."""

    def __init__(self, engines: Iterable[TtsEngine]):
        self._engines = {e.name: e for e in engines}

    def engine(self, name: str) -> TtsEngine | None:
        return self._engines.get(name)

    def voices(self) -> list[Voice]:
        return [v for e in self._engines.values() for v in e.voices()]

    def voice_for(self, language: str, preferred: str | None = None) -> Voice | None:
        """The voice that speaks ``language``: ``preferred`` if it does, else a neural
        (Piper) voice, else any (espeak-ng is the fallback)."""
        voices = [v for v in self.voices() if v.language == language]
        chosen = next((v for v in voices if v.id == preferred), None)
        return (
            chosen
            or next((v for v in voices if v.id.startswith("piper:")), None)
            or (voices[0] if voices else None)
        )

    def voice(self, voice_id: str) -> Voice | None:
        return next((v for v in self.voices() if v.id == voice_id), None)

    def languages_spoken(self) -> set[str]:
        return {v.language for v in self.voices()}

    def synthesize(self, text: str, voice_id: str, rate: int, out: Path) -> Path:
        engine_name, _, voice = voice_id.partition(":")
        engine = self._engines.get(engine_name)
        if engine is None or self.voice(voice_id) is None:
            raise SpeechFailed("speech.unknown_voice", voice=voice_id)
        return engine.synthesize(text, voice, rate, out)
