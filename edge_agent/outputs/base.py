"""The audio output interface: a backend opens a sink per play and takes 16-bit mono PCM."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ..clock import Clock

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
    resumed: int = 0  # how many times it came back after a preemption (resume.py)


@dataclass
class SinkReport:
    """How the device kept time during one play: added to the playback report."""

    underruns: int = 0
    rejoins: int = 0  # jumps back onto the timeline (underrun, clock step, stall)
    corrected_ms: float = 0.0  # samples inserted or dropped to stay on the timeline, in all
    max_error_ms: float = 0.0
    problems: list[str] = field(default_factory=list)  # words for the technician

    def extra(self) -> dict[str, Any]:
        return {
            "underruns": self.underruns,
            "timeline_rejoins": self.rejoins,
            "timeline_corrected_ms": round(self.corrected_ms, 1),
            "timeline_max_error_ms": round(self.max_error_ms, 1),
        }


class Sink(Protocol):
    """One play on the output. ``write`` blocks at the pace of the sound card."""

    def start(self, at: datetime, clock: Clock) -> datetime:
        """Place the play so its first sample leaves the device at ``at`` (on ``clock``).

        Returns when the next sample written will leave the device: ``at`` when the sink
        could wait for it, later when ``at`` had passed (the player skips that much audio
        of a late play, so it joins in step)."""
        ...

    def write(self, pcm: bytes) -> None: ...

    def close(self, *, actual_start: datetime, actual_end: datetime, interrupted: bool) -> None: ...

    def report(self) -> SinkReport | None:
        """What the device did to keep time, or None for an output that has no device clock."""
        ...


class AudioOutput(Protocol):
    """A backend (ALSA, file, ...). ``open`` is called ``lead_s`` before the start, once the
    play owns the output, so the device is open and primed when the first sample is due."""

    name: str
    lead_s: float

    def open(self, play: PlayInfo) -> Sink: ...
