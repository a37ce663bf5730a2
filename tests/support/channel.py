"""The station's channel process for tests (``python -m controller.channel``), started with a
Stack's settings, and a listener that hears ``/kenh.ogg`` as a villager's phone would, noting
when each piece of sound arrived."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from controller.channel.__main__ import environment
from controller.settings import Settings

RATE = 48000


class ChannelProcess:
    def __init__(self, settings: Settings, log: Path):
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "controller.channel"],
            env=environment(settings),
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def mount_up(url: str) -> bool:
    """A listener gets the mount now: 200 and its first bytes."""
    try:
        with httpx.stream("GET", url, timeout=2) as r:
            return r.status_code == 200 and bool(next(r.iter_bytes(), b""))
    except httpx.HTTPError:
        return False


class Listener:
    """ffmpeg decoding the channel as it arrives: (arrival time, PCM) chunks."""

    def __init__(self, url: str):
        self.chunks: list[tuple[float, bytes]] = []
        self.proc = subprocess.Popen(
            ["ffmpeg", "-v", "error", "-nostdin", "-fflags", "nobuffer", "-probesize", "4096"]
            + ["-analyzeduration", "0", "-i", url, "-f", "s16le", "-ac", "1", "-ar", "48000"]
            + ["pipe:1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        while data := self.proc.stdout.read1(3840):  # type: ignore[attr-defined]
            self.chunks.append((time.time(), data))

    def first_sound_after(self, after: float, threshold: float = 0.02) -> float | None:
        """When the first 10 ms louder than ``threshold`` (RMS, full scale 1) arrived."""
        for arrived, data in list(self.chunks):
            if arrived < after:
                continue
            pcm = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.float32)
            for i in range(0, len(pcm) - 480, 480):
                if np.sqrt(np.mean((pcm[i : i + 480] / 32768) ** 2)) > threshold:
                    # this block arrived with the chunk; the samples after it came later
                    return arrived - (len(pcm) - i) / RATE
        return None

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def onset_s(pcm: np.ndarray, threshold: float = 0.02) -> float:
    """Where the first 10 ms louder than ``threshold`` begins in ``pcm`` (float, full scale 1)."""
    for i in range(0, len(pcm) - 480, 480):
        if np.sqrt(np.mean(pcm[i : i + 480] ** 2)) > threshold:
            return i / RATE
    raise AssertionError("no sound")


def decode(path: Path) -> np.ndarray:
    """Any audio file as 48 kHz mono float samples."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-f", "s16le", "-ac", "1"]
        + ["-ar", "48000", "pipe:1"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(out, dtype="<i2").astype(np.float32) / 32768
