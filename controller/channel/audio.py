"""The channel's sounds: a stored bulletin decoded to PCM ahead of its start, a stream (live
voice, relay) read as it comes, and the sinks the paced PCM goes to (Icecast, the recorder),
each behind a queue so a slow or dead one never holds the others up."""

from __future__ import annotations

import logging
import queue
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from ..streams.channel import LiveInput
from ..streams.pacing import FRAME_BYTES, RATE, PacedQueue
from ..streams.sources import PCM_ARGS, Ffmpeg, decoder

log = logging.getLogger(__name__)

BYTES_PER_S = RATE * 2
SILENCE = bytes(FRAME_BYTES)


def decode_file(ffmpeg: str, path: Path) -> bytes:
    """A stored bulletin as 48 kHz mono PCM (RuntimeError if ffmpeg cannot read it)."""
    done = subprocess.run(
        [ffmpeg, "-v", "error", "-nostdin", "-i", str(path), *PCM_ARGS, "pipe:1"],
        capture_output=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode(errors="replace")[-300:])
    return done.stdout


def pcm_frame(pcm: bytes, offset_s: float) -> bytes:
    """The 20 ms of ``pcm`` from ``offset_s`` (silence past its end). Pure."""
    at = int(offset_s * RATE) * 2
    chunk = pcm[at : at + FRAME_BYTES] if at >= 0 else b""
    return chunk + bytes(FRAME_BYTES - len(chunk))


class StreamAudio:
    """A stream the loudspeakers are playing, read as PCM frames; reopened while wanted."""

    def __init__(self, ffmpeg: str, url: str, secret: str = ""):
        self._ffmpeg, self._url, self._secret = ffmpeg, url, secret
        self.queue = PacedQueue(0.12, 1.0)
        self._lock = threading.Lock()
        self._closed = False
        self._input = self._open()

    def _open(self) -> LiveInput:
        args = ["-reconnect", "1", "-reconnect_streamed", "1", "-i", self._url]
        return LiveInput(
            lambda: decoder(self._ffmpeg, args, stdin=False, secret=self._secret),
            self.queue,
            self._ended,
            retry=True,
        )

    def _ended(self, _: LiveInput) -> None:
        with self._lock:
            if not self._closed:  # the stream broke while it is on air: try it again
                threading.Timer(0.5, self._reopen).start()

    def _reopen(self) -> None:
        with self._lock:
            if not self._closed:
                self._input = self._open()

    def frame(self) -> bytes:
        return self.queue.frame()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            current = self._input
        current.stop()


class Sink:
    """A writer on its own thread: ``put`` never blocks (a full queue drops the frame)."""

    def __init__(self, name: str, write: Callable[[bytes, int], None], depth: int = 50):
        self.name = name
        self._write = write
        self._queue: queue.Queue[tuple[bytes, int] | None] = queue.Queue(depth)
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name=f"sink-{name}", daemon=True)
        self._thread.start()

    def put(self, frame: bytes, due_ns: int) -> None:
        try:
            self._queue.put_nowait((frame, due_ns))
        except queue.Full:
            self.dropped += 1

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                self._write(*job)
            except Exception:
                log.exception("%s: writing failed", self.name)


class EncoderLink:
    """Paced PCM to one ffmpeg encoder (``make``), started again when it dies (Icecast went
    away, a disk write failed) at most every ``retry_s``."""

    def __init__(self, name: str, make: Callable[[], Ffmpeg], retry_s: float = 2.0):
        self.name = name
        self._make = make
        self._retry_ns = int(retry_s * 1e9)
        self._proc: Ffmpeg | None = None
        self._next_try_ns = 0
        self.starts = 0

    def write(self, frame: bytes, due_ns: int) -> bool:
        """Feed it; False while it is down (the frame is lost)."""
        if self._proc is None:
            if due_ns < self._next_try_ns:
                return False
            self._next_try_ns = due_ns + self._retry_ns
            self._proc = self._make()
            self.starts += 1
        if self._proc.write(frame):
            return True
        log.warning("%s: encoder gone (%s)", self.name, self._proc.error() or "no message")
        self._proc.stop()
        self._proc = None
        return False

    @property
    def up(self) -> bool:
        return self._proc is not None and self._proc.running

    def close(self) -> None:
        if self._proc is not None:
            self._proc.stop()
            self._proc = None
