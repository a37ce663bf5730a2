"""Piper neural voices, offline: ONNX models the station installs itself (a model and its
``.onnx.json`` config, checked, rendered once, then kept under the voices directory).

Nothing is downloaded: ``piper-tts`` brings the ONNX runtime and its own espeak-ng phonemiser,
and the voices are files the station copies in (docs/media.md says where to get them)."""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
import time
import wave
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .engines import LANGUAGES, SpeechFailed, Voice

log = logging.getLogger(__name__)

MODEL = "model.onnx"
CONFIG = "model.onnx.json"
ABOUT = "voice.json"
MAX_MODEL_BYTES = 300 * 1024 * 1024  # Piper's "high" voices are ~110 MB
_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
TEST_SENTENCES = {
    "vi": "Xin chào bà con, đây là đài truyền thanh xã.",
    "en": "Hello, this is the commune radio station.",
}
QUALITIES = {"x_low": "rất thấp", "low": "thấp", "medium": "vừa", "high": "cao"}


@dataclass(frozen=True)
class InstalledVoice:
    """A Piper voice the station keeps: what it speaks and how fast it renders here."""

    name: str  # "vi_VN-vais1000-medium"
    language: str  # one of LANGUAGES: "vi"
    locale: str  # the voice's own code: "vi_VN"
    quality: str  # x_low, low, medium, high
    sample_rate: int
    dataset: str
    rtf: float  # seconds of work per second of speech, measured at install
    size_bytes: int
    installed_at: str

    @property
    def id(self) -> str:
        return f"piper:{self.name}"


def voice_name(model_file: str) -> str:
    """The name a model is kept under: its file name without ``.onnx``, in safe characters."""
    stem = Path(model_file).name.removesuffix(".json").removesuffix(".onnx")
    return _NAME.sub("-", stem).strip("-.")[:60] or "voice"


def read_config(config: Path) -> dict[str, Any]:
    """A Piper voice config, or ``SpeechFailed`` saying what is wrong with it."""
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        raise SpeechFailed("speech.voice_config_unreadable") from None
    if not isinstance(data, dict):
        raise SpeechFailed("speech.voice_config_unreadable")
    audio, ids = data.get("audio"), data.get("phoneme_id_map")
    if not (
        isinstance(audio, dict)
        and isinstance(audio.get("sample_rate"), int)
        and isinstance(ids, dict)
        and ids
        and isinstance(data.get("num_symbols"), int)
    ):
        raise SpeechFailed("speech.voice_config_not_piper")
    return data


def voice_language(config: dict[str, Any]) -> tuple[str, str]:
    """(our language code, the voice's locale) from a Piper config's ``language`` block,
    else its espeak voice ("vi" → vi)."""
    block = config.get("language") if isinstance(config.get("language"), dict) else {}
    locale = str(block.get("code") or (config.get("espeak") or {}).get("voice") or "")
    family = str(block.get("family") or re.split(r"[-_]", locale)[0]).lower()
    if family not in LANGUAGES:
        raise SpeechFailed("speech.voice_language_unknown", language=locale[:20] or "?")
    return family, locale


class PiperEngine:
    """The installed Piper voices, loaded on first use and kept loaded (a few per station)."""

    name = "piper"

    def __init__(self, directory: Path):
        self.dir = directory
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()  # piper's espeak phonemiser is one global state

    # --- what is installed ------------------------------------------------------------------

    def installed(self) -> list[InstalledVoice]:
        found = []
        if not self.dir.is_dir():
            return []
        for about in sorted(self.dir.glob(f"*/{ABOUT}")):
            try:
                found.append(InstalledVoice(**json.loads(about.read_text(encoding="utf-8"))))
            except (OSError, ValueError, TypeError):
                log.warning("%s unreadable: voice ignored", about)
        return found

    def voices(self) -> list[Voice]:
        return [
            Voice(
                v.id,
                v.language,
                f"{v.name} (giọng tự nhiên, ngoại tuyến)",
                f"{v.name} (neural, offline)",
            )
            for v in self.installed()
        ]

    # --- speaking ---------------------------------------------------------------------------

    def _voice(self, name: str, directory: Path | None = None) -> Any:
        where = directory or self.dir / name
        key = str(where)
        if key not in self._loaded:
            from piper import PiperVoice  # the ONNX runtime: imported when a voice is used

            try:
                self._loaded[key] = PiperVoice.load(where / MODEL, where / CONFIG)
            except Exception as exc:  # noqa: BLE001 - onnxruntime's own errors: not a model
                log.warning("piper voice %s does not load: %s", name, exc)
                raise SpeechFailed("speech.voice_not_a_model") from None
        return self._loaded[key]

    def synthesize(self, text: str, voice: str, rate: int, out: Path) -> Path:
        if not (self.dir / voice / ABOUT).is_file():
            raise SpeechFailed("speech.unknown_voice", voice=f"piper:{voice}")
        return self._render(self._voice(voice), text, rate, out)

    def _render(self, loaded: Any, text: str, rate: int, out: Path) -> Path:
        from piper import SynthesisConfig

        speed = max(50, min(200, rate)) / 100
        with self._lock:
            try:
                with wave.open(str(out), "wb") as wav:
                    loaded.synthesize_wav(
                        text,
                        wav,
                        SynthesisConfig(length_scale=loaded.config.length_scale / speed),
                    )
            except SpeechFailed:
                raise
            except Exception as exc:  # noqa: BLE001 - the ONNX runtime's, on this text
                log.warning("piper failed on %d characters: %s", len(text), exc)
                raise SpeechFailed("speech.engine_failed", engine="piper") from None
        if not out.exists() or out.stat().st_size <= 44:
            raise SpeechFailed("speech.engine_failed", engine="piper")
        return out

    # --- installing -------------------------------------------------------------------------

    def install(self, model: Path, config: Path, name: str, languages: set[str]) -> InstalledVoice:
        """Check a model and its config (readable, a Piper voice, a language one of
        ``languages``, a test sentence renders), then keep them; nothing kept on a refusal."""
        data = read_config(config)
        language, locale = voice_language(data)
        if language not in languages:
            raise SpeechFailed("speech.voice_language_unused", language=LANGUAGES[language][0])
        size = model.stat().st_size
        if size > MAX_MODEL_BYTES or size < 1024:
            raise SpeechFailed("speech.voice_not_a_model")
        name = voice_name(name)
        if (self.dir / name).exists():
            raise SpeechFailed("speech.voice_exists", voice=f"piper:{name}")
        self.dir.mkdir(parents=True, exist_ok=True)
        work = self.dir / f".{name}.installing"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        try:
            shutil.copyfile(model, work / MODEL)
            shutil.copyfile(config, work / CONFIG)
            loaded = self._voice(name, work)
            sentence = TEST_SENTENCES.get(language, "a e i o u")
            started = time.perf_counter()
            try:
                self._render(loaded, sentence, 100, work / "test.wav")
            except SpeechFailed:  # a model that loads but cannot run this config's phonemes
                raise SpeechFailed("speech.voice_config_mismatch") from None
            took = time.perf_counter() - started
            with wave.open(str(work / "test.wav")) as wav:
                seconds = wav.getnframes() / max(1, wav.getframerate())
            if seconds < 0.3:
                raise SpeechFailed("speech.voice_config_mismatch")
            (work / "test.wav").unlink()
            about = InstalledVoice(
                name=name,
                language=language,
                locale=locale,
                quality=str(data["audio"].get("quality") or ""),
                sample_rate=int(data["audio"]["sample_rate"]),
                dataset=str(data.get("dataset") or ""),
                rtf=round(took / seconds, 3),
                size_bytes=size,
                installed_at=datetime.now(UTC).isoformat(timespec="seconds"),
            )
            (work / ABOUT).write_text(json.dumps(asdict(about), ensure_ascii=False))
            work.rename(self.dir / name)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        finally:
            self._loaded.pop(str(work), None)
        return about

    def remove(self, name: str) -> None:
        where = self.dir / voice_name(name)
        if not (where / ABOUT).is_file():
            raise SpeechFailed("speech.unknown_voice", voice=f"piper:{name}")
        self._loaded.pop(str(where), None)
        shutil.rmtree(where)
