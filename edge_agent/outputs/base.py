"""The audio output interface: a backend opens a sink per play and takes 16-bit mono PCM."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

SAMPLE_RATE = 48000
CHANNELS = 1
SAMPLE_WIDTH = 2
BYTES_PER_SECOND = SAMPLE_RATE * CHANNELS * SAMPLE_WIDTH


@dataclass(frozen=True)
class PlayInfo:
    play_id: str
    broadcast_id: str
    title: str
    scheduled_start: datetime


class Sink(Protocol):
    """One play on the output. ``write`` blocks at the pace of the sound card."""

    def start(self) -> None:
        """Called at the start instant, just before the first ``write``."""

    def write(self, pcm: bytes) -> None: ...

    def close(self, *, actual_start: datetime, actual_end: datetime, interrupted: bool) -> None: ...


class AudioOutput(Protocol):
    """A backend (ALSA, file, ...). ``open`` may be slow; it is called ahead of the start."""

    name: str

    def open(self, play: PlayInfo) -> Sink: ...
