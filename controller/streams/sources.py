"""ffmpeg at the edges of the live channel (``channel.py``): decoders turning a source (the
browser's WebM/Opus chunks, the line-in, a streaming client's mount) into PCM, and the one
encoder that sends the paced PCM as Opus in Ogg to the station's Icecast.

The encoder flushes an Ogg page every 40 ms (ffmpeg's default is one second): a listener
waits for a whole page before it can decode, so this is most of the stream's own delay."""

from __future__ import annotations

import logging
import subprocess
import threading
from urllib.parse import quote

log = logging.getLogger(__name__)

PCM_ARGS = ["-f", "s16le", "-ac", "1", "-ar", "48000"]
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
    "40000",
    "-flush_packets",
    "1",
    "-content_type",
    "application/ogg",
    "-f",
    "ogg",
]
# start at once: ffmpeg's default probing holds a second or more of input before any output
LOW_DELAY_INPUT = [
    "-fflags",
    "nobuffer",
    "-flags",
    "low_delay",
    "-probesize",
    "4096",
    "-analyzeduration",
    "0",
]


CONTROLLER_SOURCE = "loalang"
"""The user name of the station's own sources and listeners (the controller, its channel)."""


def icecast_target(host: str, port: int, mount: str, user: str, password: str) -> str:
    return f"icecast://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}{mount}"


def listen_url(host: str, port: int, mount: str, user: str, password: str) -> str:
    """A mount read with a log-in (ffmpeg's input)."""
    return f"http://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}{mount}"


class Ffmpeg:
    """One ffmpeg process: ``write`` feeds its stdin, ``read`` takes its stdout (when
    asked for); what it says on stderr is logged without ``secret``."""

    def __init__(self, args: list[str], stdin: bool, stdout: bool, secret: str = ""):
        self._secret = secret
        self._proc = subprocess.Popen(
            [args[0], "-v", "error", "-hide_banner" if stdin else "-nostdin", *args[1:]],
            stdin=subprocess.PIPE if stdin else None,
            stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._lock = threading.Lock()
        self._stderr: list[str] = []
        threading.Thread(target=self._drain, daemon=True, name="ffmpeg-log").start()

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes of its output as they come; b"" at its end."""
        assert self._proc.stdout is not None
        return self._proc.stdout.read1(size)  # type: ignore[attr-defined]

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

    @property
    def pid(self) -> int:
        return self._proc.pid

    def error(self) -> str:
        return " ".join(self._stderr[-3:])[-300:]

    def stop(self) -> None:
        if self._proc.stdin is None:  # reading a device or a URL: nothing to finish
            self._proc.terminate()
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
            text = line.decode(errors="replace").strip()
            if self._secret:
                text = text.replace(self._secret, "***")
            if text:
                self._stderr.append(text)
                log.warning("live ffmpeg: %s", text)


def encoder(ffmpeg: str, target: str, origin_ns: int) -> Ffmpeg:
    """Paced PCM on stdin to Opus/Ogg on ``target``, its first sample stamped ``origin_ns``."""
    secret = target.partition("://")[2].rpartition("@")[0]
    args = [ffmpeg, "-fflags", "nobuffer", "-probesize", "32", "-analyzeduration", "0"]
    args += [*PCM_ARGS, "-i", "pipe:0", *OPUS_ARGS]
    args += ["-metadata", f"LOALANG_ORIGIN={origin_ns}", target]
    return Ffmpeg(args, stdin=True, stdout=False, secret=secret)


def decoder(ffmpeg: str, input_args: list[str], stdin: bool, secret: str = "") -> Ffmpeg:
    """A source (``input_args``, or whatever is written to stdin) as PCM on stdout."""
    args = [ffmpeg, *LOW_DELAY_INPUT, *input_args, *PCM_ARGS, "pipe:1"]
    return Ffmpeg(args, stdin=stdin, stdout=True, secret=secret)
