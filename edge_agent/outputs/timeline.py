"""Where the next sample written to a sound card will be heard, against where it should be.

Pure arithmetic, no I/O: a sink reads the device's delay (frames queued between the next
sample it writes and the DAC) and the clock, and asks this module how much silence puts the
first sample of a play at its start instant, and how many frames to insert or drop later so
that a sound card whose crystal runs a little fast or slow, an underrun or a clock step does
not carry the loudspeaker away from its neighbours (Snapcast's idea: correct by single
samples while the error is small, jump back onto the timeline when it is large).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from statistics import median

TOLERANCE_S = 0.002  # a smoothed error under 2 ms is left alone: delay readings jitter
JUMP_S = 0.030  # beyond 30 ms (an underrun, a clock step) rejoin the timeline at once
WINDOW = 9  # delay readings smoothed over (about a second of 100 ms writes)
MAX_STEP_FRAMES = 4  # per write while correcting slowly: 40 frames/s, far above crystal drift
MAX_JUMP_INSERT_S = 2.0  # silence a play may insert in jumps (clock steps back) in all: a
# device that does not consume in real time (ALSA's "null") would otherwise be fed forever


def lead_in_frames(start: float, now: float, delay_frames: int, rate: int) -> int:
    """Frames of silence to write now so that the next sample leaves the device at ``start``.

    ``now`` and ``start`` are on the same clock (seconds); ``delay_frames`` is what the
    device holds ahead of the next sample. Negative when that sample can only leave late.
    """
    return round((start - now) * rate) - delay_frames


def heard_at(now: float, delay_frames: int, rate: int) -> float:
    """When the next sample written will leave the device."""
    return now + delay_frames / rate


@dataclass
class TimelineStats:
    """What kept a play on its timeline, for the playback report."""

    inserted_frames: int = 0
    dropped_frames: int = 0
    rejoins: int = 0  # jumps back onto the timeline (underrun, clock step, stall)
    max_error_s: float = 0.0  # the largest smoothed error seen before it was corrected
    unpaced: bool = False  # the device ran ahead of time past MAX_JUMP_INSERT_S: left as is


class DriftGuard:
    """Turns the measured error of each write into frames to insert (+) or drop (−).

    The error is ``heard − ideal`` for the next sample: positive means late (drop), negative
    early (insert). Small errors are smoothed over ``WINDOW`` readings and corrected a few
    frames per write; an error beyond ``JUMP_S`` is corrected in one step.
    """

    def __init__(self, rate: int, tolerance_s: float = TOLERANCE_S, jump_s: float = JUMP_S):
        self.rate = rate
        self.tolerance_s = tolerance_s
        self.jump_s = jump_s
        self._errors: deque[float] = deque(maxlen=WINDOW)
        self.stats = TimelineStats()

    def step(self, error_s: float) -> int:
        """Frames to insert (> 0) or drop (< 0) before the next write; 0 to write as is."""
        if abs(error_s) >= self.jump_s:
            self._errors.clear()
            inserted_s = self.stats.inserted_frames / self.rate
            if error_s < 0 and (self.stats.unpaced or inserted_s - error_s > MAX_JUMP_INSERT_S):
                self.stats.unpaced = True  # it plays faster than time: nothing to hold back
                return 0
            self.stats.rejoins += 1
            self._note(error_s)
            return self._count(-round(error_s * self.rate))
        self._errors.append(error_s)
        if len(self._errors) < self._errors.maxlen:  # type: ignore[operator]
            return 0
        smooth = median(self._errors)
        if abs(smooth) < self.tolerance_s:
            return 0
        self._note(smooth)
        frames = max(1, min(MAX_STEP_FRAMES, round(abs(smooth) * self.rate) // 8))
        # what is corrected now is no longer in the window's readings
        shift = frames / self.rate
        self._errors = deque(
            (e - shift if smooth > 0 else e + shift for e in self._errors), maxlen=WINDOW
        )
        return self._count(-frames if smooth > 0 else frames)

    def _note(self, error_s: float) -> None:
        self.stats.max_error_s = max(self.stats.max_error_s, abs(error_s))

    def _count(self, frames: int) -> int:
        if frames > 0:
            self.stats.inserted_frames += frames
        else:
            self.stats.dropped_frames -= frames
        return frames
