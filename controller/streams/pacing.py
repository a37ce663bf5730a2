"""The live channel's clock: PCM from any source goes to the encoder paced by the
controller's clock — sample ``n`` at ``origin + n / 48000`` — so a sample's place in the
stream (its Ogg granule) *is* its time on the station's clock, announced once as the origin
in the stream's comment header (docs/live.md, "Loudspeakers in step").

A source never writes at exactly that pace (a browser sends 100 ms chunks, a client whole
Ogg pages, a sound card has its own crystal), so a short queue sits between: it fills to its
pre-roll before it plays, gives silence when the source is late or gone, and drops the
oldest audio when the source runs ahead, so the voice stays as near live as the pre-roll."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

RATE = 48000
FRAME_BYTES = RATE // 50 * 2  # 20 ms of 16-bit mono, one Opus frame
SLACK_S = 0.2  # the queue may run this far past its pre-roll before the oldest is dropped


class PacedQueue:
    """What a source wrote, given back one 20 ms frame at a time. Pure."""

    def __init__(self, preroll_s: float, slack_s: float = SLACK_S):
        self._buf = bytearray()
        self._preroll = _frames(preroll_s) * FRAME_BYTES
        self._limit = self._preroll + _frames(slack_s) * FRAME_BYTES
        self._playing = False
        self.dropped_bytes = 0  # the source ran ahead: its oldest audio was dropped
        self.underruns = 0  # the source was late while playing

    def put(self, pcm: bytes) -> None:
        self._buf += pcm
        if len(self._buf) > self._limit:
            cut = len(self._buf) - self._preroll
            cut -= cut % 2
            del self._buf[:cut]
            self.dropped_bytes += cut

    def frame(self) -> bytes:
        """The next 20 ms: the source's audio once the pre-roll is there, else silence."""
        if not self._playing:
            if len(self._buf) < max(self._preroll, FRAME_BYTES):
                return bytes(FRAME_BYTES)
            self._playing = True
        if len(self._buf) < FRAME_BYTES:
            self._playing = False
            self.underruns += 1
            out = bytes(self._buf) + bytes(FRAME_BYTES - len(self._buf))
            self._buf.clear()
            return out
        out = bytes(self._buf[:FRAME_BYTES])
        del self._buf[:FRAME_BYTES]
        return out

    def clear(self) -> None:
        self._buf.clear()
        self._playing = False


def _frames(seconds: float) -> int:
    return max(0, round(seconds * 50))


class Pacer:
    """A thread writing ``queue.frame()`` to ``write`` at ``origin_ns + n × 20 ms``."""

    def __init__(self, write: Callable[[bytes], bool], origin_ns: int, name: str = "pacer"):
        self.origin_ns = origin_ns
        self._write = write
        self._queue = PacedQueue(0.0)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.frames = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def use(self, queue: PacedQueue) -> None:
        """Take frames from ``queue`` from now on (a new source)."""
        with self._lock:
            self._queue = queue

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stop.is_set():
            due_ns = self.origin_ns + self.frames * 20_000_000
            wait = (due_ns - time.time_ns()) / 1e9
            if wait > 0 and self._stop.wait(wait):
                return
            with self._lock:
                frame = self._queue.frame()
            if not self._write(frame):
                log.warning("live encoder gone; the channel stops")
                return
            self.frames += 1
