"""One live broadcast's channel: the encoder on its mount, paced by the controller's clock
(``pacing.py``) from its first second to its end, and the source of the moment feeding it —
the browser's microphone, the line-in or a streaming client's own mount. Sources come and
go (a browser reconnects, a client restarts); the channel, its origin and so every
loudspeaker's timeline stay."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .pacing import SLACK_S as DEFAULT_SLACK_S
from .pacing import PacedQueue, Pacer
from .sources import Ffmpeg, decoder, encoder

log = logging.getLogger(__name__)

START_AFTER_S = 0.2  # the origin: the encoder has this long to start before the first frame
READ_BYTES = 1920
CONNECT_TRIES = 20  # a client's mount is read as soon as Icecast says it came; it may lag
CONNECT_PAUSE_S = 0.25
# how much a source is let run ahead before the pacer takes from it: its longest burst
PREROLL_S = {"browser": 0.08, "client": 0.12, "line_in": 0.06, "relay": 0.5}
# how far past it before the oldest is dropped: a relay's internet stream comes in bursts
SLACK_S = {"relay": 1.0}


class LiveInput:
    """A decoder feeding the channel: ``write`` gives it the browser's chunks; a URL input
    tries to connect a few times (the client's mount may not be readable at once)."""

    def __init__(
        self,
        make: Callable[[], Ffmpeg],
        queue: PacedQueue,
        on_end: Callable[[LiveInput], None],
        retry: bool = False,
    ):
        self._make = make
        self._queue = queue
        self._on_end = on_end
        self._retry = retry
        self._stopped = threading.Event()
        self.proc = make()
        self.bytes_in = 0
        self._thread = threading.Thread(target=self._run, name="live-input", daemon=True)
        self._thread.start()

    def write(self, chunk: bytes) -> bool:
        return self.proc.write(chunk)

    def stop(self) -> None:
        self._stopped.set()
        self.proc.stop()

    def error(self) -> str:
        return self.proc.error()

    def _run(self) -> None:
        tries = 0
        while True:
            while data := self.proc.read(READ_BYTES):
                self.bytes_in += len(data)
                self._queue.put(data)
            if self._stopped.is_set():
                return
            tries += 1
            if self.bytes_in or not self._retry or tries >= CONNECT_TRIES:
                break
            self.proc.stop()
            if self._stopped.wait(CONNECT_PAUSE_S):
                return
            self.proc = self._make()
        self.proc.stop()
        if not self._stopped.is_set():
            self._on_end(self)


class LiveChannel:
    """The encoder for one mount from creation to ``stop``; ``attach`` a source to it."""

    def __init__(self, ffmpeg: str, target: str, name: str):
        self._ffmpeg = ffmpeg
        self.origin_ns = time.time_ns() + int(START_AFTER_S * 1e9)
        self._encoder = encoder(ffmpeg, target, self.origin_ns)
        self._pacer = Pacer(self._encoder.write, self.origin_ns, name=f"pacer-{name}")
        self._lock = threading.Lock()
        self._input: LiveInput | None = None
        self.name = name

    def attach(
        self,
        kind: str,
        input_args: list[str] | None,
        on_end: Callable[[LiveInput], None],
        secret: str = "",
    ) -> LiveInput:
        """A new source (the old one goes): ``input_args`` for ffmpeg, or None to be
        written to (the browser's WebM)."""
        queue = PacedQueue(PREROLL_S.get(kind, 0.12), SLACK_S.get(kind, DEFAULT_SLACK_S))
        stdin = input_args is None
        args = ["-f", "webm", "-i", "pipe:0"] if stdin else list(input_args or [])
        source = LiveInput(
            lambda: decoder(self._ffmpeg, args, stdin=stdin, secret=secret),
            queue,
            on_end,
            retry=kind == "client",
        )
        with self._lock:
            old, self._input = self._input, source
        self._pacer.use(queue)
        if old is not None:
            old.stop()
        return source

    def detach(self, source: LiveInput | None = None) -> None:
        """The source goes (only ``source``, if named): silence until another comes."""
        with self._lock:
            if self._input is None or (source is not None and self._input is not source):
                return
            old, self._input = self._input, None
        self._pacer.use(PacedQueue(0.0))
        old.stop()

    @property
    def running(self) -> bool:
        return self._encoder.running

    def stop(self) -> None:
        self.detach()
        self._pacer.stop()
        self._encoder.stop()
