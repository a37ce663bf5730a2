"""File output: writes exactly the PCM that would reach the sound card, at the card's pace.

One WAV per play plus a JSON sidecar with the scheduled and actual start and end. Used by the
demo and the tests, which check the audio itself.
"""

from __future__ import annotations

import json
import threading
import time
import wave
from datetime import datetime
from pathlib import Path

from ..clock import Clock
from ..fsutil import atomic_write
from .base import BYTES_PER_SECOND, CHANNELS, SAMPLE_RATE, SAMPLE_WIDTH, PlayInfo, SinkReport


class FileSink:
    def __init__(self, path: Path, play: PlayInfo):
        self.path = path
        self.play = play
        self._wav = wave.open(str(path), "wb")
        self._wav.setnchannels(CHANNELS)
        self._wav.setsampwidth(SAMPLE_WIDTH)
        self._wav.setframerate(SAMPLE_RATE)
        self._t0 = 0.0
        self._written = 0

    def start(self, at: datetime, clock: Clock) -> datetime:
        """Wait for ``at``: the file's first sample is "heard" when it is written."""
        clock.wait_until(at, threading.Event())
        self._t0 = time.monotonic()
        return clock.now()

    def write(self, pcm: bytes) -> None:
        self._wav.writeframesraw(pcm)
        self._written += len(pcm)
        # Pace like a sound card: return when this audio would have been played out.
        due = self._t0 + self._written / BYTES_PER_SECOND
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def close(self, *, actual_start: datetime, actual_end: datetime, interrupted: bool) -> None:
        self._wav.close()
        meta = {
            "play_id": self.play.play_id,
            "broadcast_id": self.play.broadcast_id,
            "title": self.play.title,
            "scheduled_start": self.play.scheduled_start.isoformat(),
            "actual_start": actual_start.isoformat(),
            "actual_end": actual_end.isoformat(),
            "samples": self._written // SAMPLE_WIDTH,
            "interrupted": interrupted,
        }
        atomic_write(self.path.with_suffix(".json"), json.dumps(meta, indent=1).encode())

    def report(self) -> SinkReport | None:
        return None


class FileOutput:
    name = "file"
    lead_s = 0.0  # nothing to open ahead

    def __init__(self, directory: Path):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)

    def open(self, play: PlayInfo) -> FileSink:
        stamp = play.scheduled_start.strftime("%Y%m%dT%H%M%S")
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in play.play_id)[:60]
        again = f"_r{play.resumed}" if play.resumed else ""  # a replay keeps the cut part
        return FileSink(self.dir / f"{stamp}_{safe}{again}.wav", play)
