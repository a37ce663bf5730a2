"""Where the microphone's sound comes from: an ALSA capture device (a USB or I2S microphone,
through libasound like the output) or a FIFO a simulator writes (the demo's and the tests'
acoustic room). Opened only around the station's own plays; 16-bit mono at ``RATE``."""

from __future__ import annotations

import ctypes
import errno
import os
import select
import stat
import time
from pathlib import Path
from typing import Protocol

from ..outputs.alsa import ACCESS_RW_INTERLEAVED, FORMAT_S16_LE, AlsaError, _libasound
from .features import RATE

STREAM_CAPTURE = 1
READ_FRAMES = RATE // 10  # 100 ms a read


class MicrophoneError(OSError):
    """The microphone cannot be opened or read (none, unplugged, busy)."""


class Capture(Protocol):
    def read(self) -> bytes:
        """The next sound (about 100 ms; ``b""`` when none came in that time)."""
        ...

    def close(self) -> None: ...


class Microphone(Protocol):
    name: str

    def open(self) -> Capture:
        """Start capturing now; raises ``MicrophoneError``."""
        ...


class AlsaCapture:
    def __init__(self, device: str):
        try:
            lib = _libasound()
        except AlsaError as exc:
            raise MicrophoneError(str(exc)) from None
        lib.snd_pcm_readi.restype = ctypes.c_long
        lib.snd_pcm_readi.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_ulong]
        self._lib = lib
        self._handle = ctypes.c_void_p()
        self.device = device
        rc = lib.snd_pcm_open(ctypes.byref(self._handle), device.encode(), STREAM_CAPTURE, 0)
        if rc < 0:
            raise MicrophoneError(f"microphone {device!r}: {lib.snd_strerror(rc).decode()}")
        rc = lib.snd_pcm_set_params(
            self._handle, FORMAT_S16_LE, ACCESS_RW_INTERLEAVED, 1, RATE, 1, 200_000
        )
        if rc < 0:
            lib.snd_pcm_close(self._handle)
            raise MicrophoneError(f"microphone {device!r}: {lib.snd_strerror(rc).decode()}")
        self._buf = ctypes.create_string_buffer(READ_FRAMES * 2)

    def read(self) -> bytes:
        n = self._lib.snd_pcm_readi(self._handle, self._buf, READ_FRAMES)
        if n == -errno.EPIPE:  # an overrun: carry on from now
            self._lib.snd_pcm_recover(self._handle, int(n), 1)
            return b""
        if n < 0:
            reason = self._lib.snd_strerror(int(n)).decode(errors="replace")
            raise MicrophoneError(f"microphone {self.device!r}: {reason}")
        return self._buf.raw[: n * 2]

    def close(self) -> None:
        if self._handle:
            self._lib.snd_pcm_close(self._handle)
            self._handle = ctypes.c_void_p()


class AlsaMicrophone:
    name = "alsa"

    def __init__(self, device: str = "default"):
        self.device = device

    def open(self) -> AlsaCapture:
        return AlsaCapture(self.device)


class FifoCapture:
    """A named pipe read as a device: what was waiting in it is dropped at the open (a sound
    card gives only what comes after), then it is read at the writer's pace."""

    def __init__(self, path: Path):
        try:
            if not stat.S_ISFIFO(path.stat().st_mode):
                raise MicrophoneError(f"microphone {path}: not a FIFO")
            self._fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            if isinstance(exc, MicrophoneError):
                raise
            raise MicrophoneError(f"microphone {path}: {exc.strerror or exc}") from None
        self._drain()

    def _drain(self) -> None:
        while True:
            try:
                if not os.read(self._fd, 65536):
                    return
            except BlockingIOError:
                return

    def read(self) -> bytes:
        ready, _, _ = select.select([self._fd], [], [], 0.1)
        if not ready:
            return b""
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return b""
        if not data:  # no writer (a microphone that gives nothing): wait as a device would
            time.sleep(0.1)
        return data

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class FifoMicrophone:
    name = "fifo"

    def __init__(self, path: Path):
        self.path = path

    def open(self) -> FifoCapture:
        return FifoCapture(self.path)
