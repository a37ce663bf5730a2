"""The speech engines a station's settings ask for."""

from __future__ import annotations

from ...settings import Settings
from .engines import Engines, TtsEngine
from .espeak import EspeakEngine
from .hosted import HostedEngine
from .piper import PiperEngine


def configured_engines(settings: Settings) -> Engines:
    """espeak-ng always (offline), the Piper voices the station installed, a hosted service
    when one is configured."""
    engines: list[TtsEngine] = [EspeakEngine(settings.espeak), PiperEngine(settings.voices_dir)]
    if settings.tts_hosted_url:
        engines.append(
            HostedEngine(
                settings.tts_hosted_url, settings.tts_hosted_api_key, settings.tts_hosted_voices
            )
        )
    return Engines(engines)
