"""Make speech in tests and compare what an agent played with what was uploaded."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np

RATE = 48000


def make_speech(
    path: Path, text: str = "Kính thưa bà con, đây là bản tin thử nghiệm của xã.", rate: int = 22050
) -> Path:
    """Spoken Vietnamese via espeak-ng, converted by ffmpeg to the container ``path`` implies."""
    raw = path.with_suffix(".espeak.wav")
    assert shutil.which("espeak-ng"), "espeak-ng is needed for speech (./run test installs it)"
    subprocess.run(
        ["espeak-ng", "-v", "vi", "-s", "170", "-w", str(raw), text],
        check=True,
        capture_output=True,
    )
    src = ["-i", str(raw)]
    if path.suffix in (".opus", ".webm"):
        rate = 48000  # Opus only takes 8/12/16/24/48 kHz
    subprocess.run(["ffmpeg", "-v", "error", "-y", *src, "-ar", str(rate), str(path)], check=True)
    raw.unlink(missing_ok=True)
    return path


def decode(path: Path) -> np.ndarray:
    """Any audio file as mono float samples at 48 kHz (through ffmpeg)."""
    out = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(path),
            "-f",
            "s16le",
            "-ac",
            "1",
            "-ar",
            str(RATE),
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(out, dtype="<i2").astype(np.float64) / 32768.0


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as wav:
        assert wav.getframerate() == RATE
        assert wav.getnchannels() == 1
        data = wav.readframes(wav.getnframes())
    return np.frombuffer(data, dtype="<i2").astype(np.float64) / 32768.0


def correlation(a: np.ndarray, b: np.ndarray, max_lag: int = 2400) -> tuple[float, int]:
    """Peak normalised cross-correlation of two signals within ±max_lag samples, and its lag."""
    n = min(len(a), len(b))
    a, b = a[:n] - a[:n].mean(), b[:n] - b[:n].mean()
    best, best_lag = -1.0, 0
    size = 1 << int(np.ceil(np.log2(2 * n)))
    spec = np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size))
    xcorr = np.fft.irfft(spec, size)
    lags = np.concatenate([np.arange(0, max_lag + 1), np.arange(-max_lag, 0)])
    values = np.concatenate([xcorr[: max_lag + 1], xcorr[-max_lag:]])
    i = int(np.argmax(values))
    best, best_lag = float(values[i]), int(lags[i])
    norm = float(np.sqrt(np.sum(a * a) * np.sum(b * b))) or 1.0
    return best / norm, best_lag


def as_played(reference: np.ndarray, delivery: dict) -> np.ndarray:
    """What a loudspeaker should have played of ``reference``: all of it, or the rest from
    where the others were if it joined late (``joined_late_ms``: its download finished after
    the start on a loaded machine, so it joined in step rather than from the beginning)."""
    late = delivery.get("joined_late_ms") or 0
    return reference[int(late * RATE / 1000) :]


def dominant_hz(samples: np.ndarray, rate: int = 48000) -> float:
    """The loudest frequency of a stretch of samples (a test tone's pitch)."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))
