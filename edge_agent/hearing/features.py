"""Band-energy envelopes of a sound, 20 ms at a time: what the microphone check compares.

Four spectral weightings of the same 16 kHz signal — a 4-tap average (low), the signal
itself, its first and its second difference (high) — each reduced to its power per frame.
That is all that is kept of the audio: an envelope cannot be turned back into speech, and
a minute of it is 12 KB. Made with ``audioop`` (C, in the standard library up to 3.12,
``audioop-lts`` after): no numpy on the Pi, and about 20 ms of CPU per minute of sound.
"""

from __future__ import annotations

import math
import warnings
from array import array

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

RATE = 16000  # what the microphone is read at, and what played audio is brought down to
FRAME = 320  # samples per frame: 20 ms
FRAME_S = FRAME / RATE
BANDS = 4
MAX_FRAMES = 30_000  # 10 minutes: a longer play is judged on its first ten minutes
CLIP_LEVEL = 32_000  # a frame whose peak reaches this is clipped


class Envelope:
    """Fed PCM (16-bit mono at ``rate``) as it comes; ``bands[b][i]`` is the power of band
    ``b`` in frame ``i``. Stops growing at ``MAX_FRAMES``."""

    def __init__(self, rate: int):
        self.rate = rate
        self.bands: list[array[float]] = [array("f") for _ in range(BANDS)]
        self.clipped_frames = 0
        self._state: tuple[object, ...] | None = None
        self._tail = b""
        self._history = bytes(6)  # the last three samples, for the filters

    def __len__(self) -> int:
        return len(self.bands[0])

    @property
    def full(self) -> bool:
        return len(self) >= MAX_FRAMES

    def feed(self, pcm: bytes) -> None:
        if self.full or not pcm:
            return
        pcm = pcm[: len(pcm) // 2 * 2]
        if self.rate != RATE:
            pcm, self._state = audioop.ratecv(pcm, 2, 1, self.rate, RATE, self._state)
        data = self._tail + pcm
        size = len(data) // (FRAME * 2) * FRAME * 2
        block, self._tail = data[:size], data[size:]
        if not block:
            return
        ctx = self._history + block
        self._history = block[-6:]
        x, x1, x2, x3 = ctx[6:], ctx[4:-2], ctx[2:-4], ctx[:-6]

        def scaled(s: bytes, k: float) -> bytes:
            return audioop.mul(s, 2, k)

        add = audioop.add
        low = add(
            add(scaled(x, 0.25), scaled(x1, 0.25), 2), add(scaled(x2, 0.25), scaled(x3, 0.25), 2), 2
        )
        d1 = add(scaled(x, 0.5), scaled(x1, -0.5), 2)
        d2 = add(add(scaled(x, 0.25), scaled(x1, -0.5), 2), scaled(x2, 0.25), 2)
        rms = audioop.rms
        step = FRAME * 2
        for at in range(0, size, step):
            if self.full:
                break
            end = at + step
            frame = x[at:end]
            signals = (low[at:end], frame, d1[at:end], d2[at:end])
            for band, signal in zip(self.bands, signals, strict=True):
                band.append(float(rms(signal, 2)) ** 2)
            if audioop.max(frame, 2) >= CLIP_LEVEL:
                self.clipped_frames += 1

    def level_db(self, start: int = 0, end: int | None = None) -> float:
        """Mean power of the full band over frames ``start:end``, in dB (re one LSB)."""
        values = self.bands[1][start:end]
        if not values:
            return -math.inf
        return power_db(sum(values) / len(values))


def power_db(power: float) -> float:
    return 10 * math.log10(power) if power > 0 else -math.inf


def chime(rate: int, seconds: float = 4.0, amplitude: float = 0.5) -> bytes:
    """The calibration chime: bell-like notes (a fundamental and three partials), each
    struck and decaying, so the envelope moves and every band gets some of it."""
    notes = (523.25, 659.25, 783.99, 1046.5)  # C5 E5 G5 C6
    note_s = 0.5
    out = array("h")
    two_pi = 2 * math.pi
    for i in range(int(seconds * rate)):
        t = i / rate
        k = int(t / note_s)
        f = notes[k % len(notes)]
        local = t - k * note_s
        env = math.exp(-local * 7.0)
        v = (
            math.sin(two_pi * f * t)
            + 0.5 * math.sin(two_pi * 2 * f * t)
            + 0.3 * math.sin(two_pi * 3 * f * t)
            + 0.2 * math.sin(two_pi * 4.2 * f * t)
        )
        out.append(int(amplitude * 32767 / 2.0 * env * v))
    return out.tobytes()
