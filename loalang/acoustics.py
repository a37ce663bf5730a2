"""A model of what a cluster's microphone hears: the played audio through four horns and an
amplifier (healthy, one horn dead, all dead, clipping, the wrong audio), a neighbour cluster
arriving late and quieter, echoes off buildings, and rain, wind, motorbikes or a market at a
chosen signal-to-noise ratio. For the demo's and the tests' microphones (room_simulator.py)
and for bench/heard.py. numpy only; streaming, so a simulator feeds it 20 ms at a time.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

PLAYED_RATE = 48000
MIC_RATE = 16000
NOMINAL_RMS = 0.12  # a bulletin at the station's loudness (−16 LUFS) through a healthy cluster
# the horns as the microphone on the pole hears them: the nearest one dominates, so losing
# it costs about 6 dB (the others, further off, give the rest)
HORN_GAINS = (1.0, 0.35, 0.35, 0.3)
HORN_DELAYS_MS = (0.0, 4.0, 6.0, 9.0)
ECHOES = ((35.0, 0.25), (80.0, 0.15), (140.0, 0.1), (230.0, 0.06), (320.0, 0.04))  # ms, gain


class Fault(str, enum.Enum):
    ok = "ok"
    one_dead = "one_dead"
    all_dead = "all_dead"
    clipping = "clipping"
    wrong = "wrong"


class Noise(str, enum.Enum):
    quiet = "quiet"
    rain = "rain"
    wind = "wind"
    motorbikes = "motorbikes"
    market = "market"


@dataclass(frozen=True)
class Room:
    fault: Fault = Fault.ok
    noise: Noise = Noise.quiet
    snr_db: float = 20.0  # the healthy cluster's sound against the noise, at the microphone
    delay_ms: float = 30.0  # horn to microphone, and the microphone's own latency
    neighbour_db: float | None = None  # a neighbour cluster's sound, against this one's
    neighbour_delay_ms: float = 300.0
    mic_gain: float = 1.0


def _lowpass(cutoff_hz: float, rate: int, taps: int = 63) -> np.ndarray:
    n = np.arange(taps) - (taps - 1) / 2
    h = np.sinc(2 * cutoff_hz / rate * n) * np.hamming(taps)
    return h / h.sum()


def _bandpass(low_hz: float, high_hz: float, rate: int, taps: int = 63) -> np.ndarray:
    return _lowpass(high_hz, rate, taps) - _lowpass(low_hz, rate, taps)


class _Fir:
    """A FIR filter that keeps its history across chunks."""

    def __init__(self, taps: np.ndarray):
        self.taps = taps
        self.history = np.zeros(len(taps) - 1)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        data = np.concatenate([self.history, x])
        self.history = data[len(data) - len(self.history) :]
        return np.convolve(data, self.taps, mode="valid")


def _sparse_taps(delays_ms: list[float], gains: list[float], rate: int) -> np.ndarray:
    taps = np.zeros(int(max(delays_ms) * rate / 1000) + 1)
    for d, g in zip(delays_ms, gains, strict=False):
        taps[int(d * rate / 1000)] += g
    return taps


class Downsampler:
    """48 kHz to 16 kHz: low-pass, then every third sample (keeps its phase across chunks)."""

    def __init__(self) -> None:
        self._fir = _Fir(_lowpass(7000, PLAYED_RATE))
        self._phase = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = self._fir(x)
        out = y[self._phase :: 3]
        self._phase = (self._phase - len(y)) % 3
        return out


class NoiseMaker:
    """Ambient sound at the microphone, at ``rms``, 16 kHz, chunk by chunk."""

    def __init__(self, kind: Noise, rms: float, seed: int = 0):
        self.kind = kind
        self.rms = rms
        self.rng = np.random.default_rng(seed)
        self._t = 0
        self._shape = _Fir(self._taps())
        self._engine_phase = 0.0

    def _taps(self) -> np.ndarray:
        if self.kind == Noise.wind:
            return _lowpass(300, MIC_RATE, 255)
        if self.kind == Noise.market:
            return _bandpass(200, 3500, MIC_RATE)
        if self.kind == Noise.rain:
            return _bandpass(1000, 7000, MIC_RATE)
        return _lowpass(6000, MIC_RATE)

    def __call__(self, n: int) -> np.ndarray:
        if self.kind == Noise.quiet or self.rms <= 0:
            return self.rng.normal(0, 1e-4, n)
        t = (self._t + np.arange(n)) / MIC_RATE
        self._t += n
        base = self._shape(self.rng.normal(0, 1, n))
        if self.kind == Noise.rain:  # a hiss with drops
            drops = (self.rng.random(n) < 0.002) * self.rng.normal(0, 8, n)
            sig = base + self._shape(drops)
        elif self.kind == Noise.wind:  # gusts
            sig = base * (1 + 0.8 * np.sin(2 * np.pi * 0.3 * t) * np.sin(2 * np.pi * 0.07 * t))
        elif self.kind == Noise.market:  # many voices: syllables at 3-6 Hz, out of step
            sig = base * (1.2 + np.sin(2 * np.pi * 4.1 * t) * np.sin(2 * np.pi * 2.3 * t + 1))
        else:  # motorbikes passing every 6 s or so: an engine's harmonics, rising and falling
            pass_env = np.exp(-(((t % 6.0) - 3.0) ** 2) / 1.5)
            f0 = 70 + 25 * np.sin(2 * np.pi * t / 6.0)
            phase = self._engine_phase + np.cumsum(2 * np.pi * f0 / MIC_RATE)
            self._engine_phase = float(phase[-1]) if n else self._engine_phase
            engine = sum(np.sin(k * phase) / k for k in range(1, 8))
            sig = 0.3 * base + 2.0 * pass_env * engine
        return self.rms * sig / 0.9  # about ``rms`` over a long stretch


class Microphone:
    """One cluster's room: ``hear(played, other)`` turns what the output played (48 kHz
    floats) — and what the neighbour played, or the wrong audio — into the microphone's
    16 kHz floats, chunk by chunk."""

    def __init__(self, room: Room, seed: int = 0):
        self.room = room
        self._down = Downsampler()
        self._down_other = Downsampler()
        gains = list(HORN_GAINS)
        if room.fault == Fault.one_dead:
            gains[0] = 0.0
        elif room.fault == Fault.all_dead:
            gains = [0.0] * len(gains)
        self._horn_shape = _Fir(_bandpass(250, 6000, MIC_RATE))
        self._other_shape = _Fir(_bandpass(250, 6000, MIC_RATE))
        path = [room.delay_ms + d for d in HORN_DELAYS_MS]
        echo_delays = [room.delay_ms + d for d, _ in ECHOES]
        self._horns = _Fir(
            _sparse_taps(path + echo_delays, gains + [g * sum(gains) for _, g in ECHOES], MIC_RATE)
        )
        nd = room.neighbour_delay_ms
        self._neighbour = _Fir(_sparse_taps([nd, nd + 60.0], [1.0, 0.3], MIC_RATE))
        healthy = float(np.sqrt(sum(g * g for g in HORN_GAINS)))
        self._norm = 1.0 / healthy  # a healthy cluster's direct sound at unit gain
        noise_rms = NOMINAL_RMS * 10 ** (-room.snr_db / 20)
        self.noise = NoiseMaker(room.noise, noise_rms, seed)

    def hear(self, played: np.ndarray, neighbour: np.ndarray | None = None) -> np.ndarray:
        """``played``: what this cluster's output sent (or, for ``wrong``, what it sent by
        mistake); ``neighbour``: what the next cluster played, same length, or None."""
        x = played
        if self.room.fault == Fault.clipping:  # an amplifier driven into its rails
            x = np.clip(x * 4.0, -0.5, 0.5)
        y = self._horns(self._horn_shape(self._down(x))) * self._norm
        if self.room.neighbour_db is not None and neighbour is not None:
            z = self._neighbour(self._other_shape(self._down_other(neighbour)))
            y = y + z * self._norm * 10 ** (self.room.neighbour_db / 20)
        return y * self.room.mic_gain + self.noise(len(y))


def to_pcm(x: np.ndarray) -> bytes:
    """Floats (±1 full scale) as 16-bit little-endian PCM, clipped like a converter."""
    return (np.clip(x, -1, 32767 / 32768) * 32768).astype("<i2").tobytes()


def from_pcm(data: bytes) -> np.ndarray:
    return np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.float64) / 32768
