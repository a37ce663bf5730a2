"""ALSA output through ``aplay`` (alsa-utils): no Python audio library needed on the Pi."""

from __future__ import annotations

import subprocess
from datetime import datetime

from .base import SAMPLE_RATE, PlayInfo


class AlsaSink:
    def __init__(self, device: str):
        # Opened ahead of the start so the device is ready when the first samples arrive.
        self._proc = subprocess.Popen(
            [
                "aplay",
                "-q",
                "-D",
                device,
                "-t",
                "raw",
                "-f",
                "S16_LE",
                "-c",
                "1",
                "-r",
                str(SAMPLE_RATE),
                "--buffer-time=200000",
                "-",
            ],
            stdin=subprocess.PIPE,
        )

    def start(self) -> None:
        pass

    def write(self, pcm: bytes) -> None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(pcm)
        except BrokenPipeError:
            raise OSError(f"aplay exited with {self._proc.poll()}") from None

    def close(self, *, actual_start: datetime, actual_end: datetime, interrupted: bool) -> None:
        if self._proc.stdin:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                pass
        if interrupted:
            self._proc.terminate()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()


class AlsaOutput:
    name = "alsa"

    def __init__(self, device: str = "default"):
        self.device = device

    def open(self, play: PlayInfo) -> AlsaSink:
        return AlsaSink(self.device)
