"""The controller's own live sources: ffmpeg encoding to Opus in Ogg and sending it to an
Icecast mount, from the browser's microphone (WebM/Opus chunks written to its stdin) or from
the station's line-in (ffmpeg's ALSA input, or any input the settings name).

Ogg pages are flushed every 100 ms (ffmpeg's default is one second): what the listener
waits for before it can decode is a page, so this is most of the stream's own delay."""

from __future__ import annotations

import logging
import shlex
import subprocess
import threading
from urllib.parse import quote

log = logging.getLogger(__name__)

OPUS_ARGS = [
    "-ac",
    "1",
    "-ar",
    "48000",
    "-c:a",
    "libopus",
    "-b:a",
    "32k",
    "-application",
    "voip",
    "-frame_duration",
    "20",
    "-page_duration",
    "100000",
    "-flush_packets",
    "1",
    "-content_type",
    "application/ogg",
    "-f",
    "ogg",
]


def icecast_target(host: str, port: int, mount: str, user: str, password: str) -> str:
    return f"icecast://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}{mount}"


class FfmpegSource:
    """One ffmpeg sending to one mount; ``write`` feeds its stdin when it reads a pipe."""

    def __init__(self, ffmpeg: str, input_args: list[str], target: str, stdin: bool):
        self._secret = target.partition("://")[2].rpartition("@")[0]  # never in a log
        args = [
            ffmpeg,
            "-v",
            "error",
            "-nostdin" if not stdin else "-hide_banner",
            "-fflags",
            "nobuffer",
            *input_args,
            *OPUS_ARGS,
            target,
        ]
        self._proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE if stdin else None,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._lock = threading.Lock()
        self._stderr: list[str] = []
        threading.Thread(target=self._drain, daemon=True, name="live-source-log").start()

    @classmethod
    def browser(cls, ffmpeg: str, target: str) -> FfmpegSource:
        """The browser's MediaRecorder output (WebM with Opus) on stdin."""
        return cls(ffmpeg, ["-f", "webm", "-i", "pipe:0"], target, stdin=True)

    @classmethod
    def line_in(cls, ffmpeg: str, input_args: str, target: str) -> FfmpegSource:
        """The station's mixer on the controller's capture device (settings: live_line_in)."""
        return cls(ffmpeg, shlex.split(input_args), target, stdin=False)

    def write(self, chunk: bytes) -> bool:
        """Feed the encoder; False once it has gone (its output is closed)."""
        with self._lock:
            if self._proc.stdin is None or self._proc.poll() is not None:
                return False
            try:
                self._proc.stdin.write(chunk)
                self._proc.stdin.flush()
                return True
            except (BrokenPipeError, ValueError):
                return False

    @property
    def running(self) -> bool:
        return self._proc.poll() is None

    def error(self) -> str:
        return " ".join(self._stderr[-3:])[-300:]

    def stop(self) -> None:
        with self._lock:
            if self._proc.stdin is not None:
                try:
                    self._proc.stdin.close()
                except OSError:
                    pass
        try:
            self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def _drain(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            text = line.decode(errors="replace").strip().replace(self._secret, "***")
            if text:
                self._stderr.append(text)
                log.warning("live source: %s", text)
