"""A live HTTP stream (Icecast relay, live studio) decoded to PCM for a fixed duration.

A reader thread runs ffmpeg on the current URL and fills a jitter buffer. When the stream
drops, it reconnects to the same URL a few times, then moves to the next (fallback) URL,
round and round until the slot ends. The player reads at the sound card's pace; when the
buffer runs dry it gets silence, so the slot keeps its length and the horns do not stutter.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable

from protocol.urls import fm_khz
from protocol.urls import without_credentials as shown  # what logs and reports may carry

from .outputs.base import BYTES_PER_SECOND, SAMPLE_RATE

log = logging.getLogger(__name__)

BUFFER_MAX_S = 20.0  # older audio is dropped beyond this: a relay must stay near live
RECONNECTS_PER_URL = 2  # tries on the same URL after a drop before the next URL
RETRY_PAUSE_S = 1.0
READ_BYTES = BYTES_PER_SECOND // 20
SILENT_PEAK = 100  # |sample| below this (about -50 dBFS) throughout a chunk: silence
DEAD_AIR_S = 10.0  # silence this long is dead air, where the stream names no threshold


def peak(pcm: bytes) -> int:
    """The largest absolute sample of 16-bit little-endian PCM (min/max run in C)."""
    samples = array("h")
    samples.frombytes(pcm)
    if sys.byteorder != "little":
        samples.byteswap()
    return max(max(samples), -min(samples)) if samples else 0


class DeadAir:
    """Silence that lasts: ``run`` is the silent run so far (bytes), ``bytes`` all silence
    in runs of at least ``after`` bytes — a stream connected but mute, not a pause."""

    def __init__(self, after: int):
        self.after = after
        self.run = 0
        self.bytes = 0

    def feed(self, pcm: bytes) -> None:
        n = len(pcm)
        if peak(pcm) < SILENT_PEAK:
            self.run += n
            if self.run >= self.after:  # the whole run, once it is dead air
                self.bytes += n if self.run - n >= self.after else self.run
        else:
            self.run = 0

    def reset(self) -> None:
        """A gap or a new connection: the run starts again."""
        self.run = 0


class StreamSource:
    """``read(n)`` gives PCM (audio or silence) until ``duration_s`` has been read."""

    def __init__(
        self,
        ffmpeg: str,
        urls: list[str],
        duration_s: float,
        volume: int | None,
        io_timeout_s: float = 5.0,
        buffer_max_s: float | None = None,
        silence_s: float | None = None,
        fallback_file: str | None = None,
        fm: Callable[[bool], bool] | None = None,
        tuner: Callable[[bool, float], bool] | None = None,
    ):
        self._ffmpeg = ffmpeg
        self._tuner = tuner  # the board's FM tuner for an ``fm:<kHz>`` URL (on, MHz)
        self._urls = list(urls) + ([fallback_file] if fallback_file else [])
        self._fallback = fallback_file  # played when no URL gives sound, then URLs again
        self._fm = fm  # the board's FM tuner, when no URL answers and there is no file
        self.fm_on = False
        self._tuned: float | None = None  # MHz, when an ``fm:`` URL tuned it
        self._reading = threading.Event()  # the player has begun to read: the play is on
        self._silence_limit = int(silence_s * SAMPLE_RATE) * 2 if silence_s else None
        # dead air is silence that lasts: runs at least this long (a pause is not dead air)
        self._dead = DeadAir(self._silence_limit or int(DEAD_AIR_S * SAMPLE_RATE) * 2)
        # a relay keeps up to BUFFER_MAX_S; a live voice only its jitter buffer: what is
        # older is dropped, so the delay from the microphone stays that low
        self._limit = int((buffer_max_s or BUFFER_MAX_S) * SAMPLE_RATE) * 2
        self._low_delay = buffer_max_s is not None
        self._volume = volume
        self._io_timeout_us = int(io_timeout_s * 1_000_000)
        self._remaining = int(duration_s * SAMPLE_RATE) * 2
        self._buffer: deque[bytes] = deque()
        self._buffered = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self.audio_bytes = 0  # from the stream, as opposed to silence
        self.tuned_bytes = 0  # while the tuner fed the amplifiers (the Pi's audio is silent)
        self.silence_switches = 0  # URLs left because they had been silent too long
        self.urls_played: list[str] = []
        self.drops = 0
        self._errors: list[str] = []
        self._thread = threading.Thread(target=self._run, name="stream", daemon=True)
        self._thread.start()

    # --- the player's side ------------------------------------------------------------------

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes: buffered audio, else silence after one chunk's wait."""
        self._reading.set()
        size = min(size - size % 2, self._remaining)
        if size <= 0:
            return b""
        with self._cond:
            if self._buffered < size:
                self._cond.wait(size / BYTES_PER_SECOND)
            parts, have = [], 0
            while self._buffer and have < size:
                part = self._buffer.popleft()
                if have + len(part) > size:
                    self._buffer.appendleft(part[size - have :])
                    part = part[: size - have]
                parts.append(part)
                have += len(part)
            self._buffered -= have
        self.audio_bytes += have
        if self.fm_on:
            self.tuned_bytes += size - have
        self._remaining -= size
        return b"".join(parts) + bytes(size - have)

    def wait_buffered(self, seconds: float, timeout: float) -> bool:
        """Wait until ``seconds`` of audio are buffered (a pre-roll), at most ``timeout``."""
        want = int(seconds * BYTES_PER_SECOND)
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._buffered < want:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    @property
    def urls(self) -> list[str]:
        return list(self._urls)

    @property
    def silent_bytes(self) -> int:
        """Of the audio, silences that lasted (dead air: connected, mute)."""
        return self._dead.bytes

    def error(self) -> str:
        return "; ".join(self._errors[-3:]) or "no audio from any stream URL"

    def close(self) -> None:
        self._stop.set()
        self._fm_off()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
        self._thread.join(timeout=5)

    # --- the reader thread ------------------------------------------------------------------

    def _fm_off(self) -> None:
        if self.fm_on:
            if self._tuned is not None and self._tuner is not None:
                self._tuner(False, self._tuned)
            elif self._fm is not None:
                self._fm(False)
            self.fm_on, self._tuned = False, None

    def _tune(self, url: str, khz: int) -> bool:
        """An ``fm:`` URL: the tuner on that frequency feeds the amplifiers until the play is
        over (the Pi's audio stays silent meanwhile); False when there is no tuner."""
        mhz = khz / 1000
        while not self._reading.wait(0.1):  # at the play's start, the amplifiers on
            if self._stop.is_set():
                return False
        if self._tuner is None or not self._tuner(True, mhz):
            self._errors.append(f"no FM tuner took {mhz:.1f} MHz")
            return False
        self.fm_on, self._tuned = True, mhz
        self.urls_played.append(url)  # (the cluster logs the tuner's switching)
        return True

    def _run(self) -> None:
        index, tries = 0, 0
        while not self._stop.is_set():
            url = self._urls[index]
            if (khz := fm_khz(url)) is not None:
                if self._tune(url, khz):
                    self._stop.wait()  # until the play is over (close)
                    return
                index = (index + 1) % len(self._urls)
                if index == 0:
                    self._stop.wait(RETRY_PAUSE_S)
                continue
            got, silent = self._pump(url)
            if self._stop.is_set():
                return
            if url == self._fallback:  # the fallback file played (or failed): URLs again
                index, tries = 0, 0
                continue
            if silent:
                self.silence_switches += 1
                index, tries = (index + 1) % len(self._urls), 0
                log.warning(
                    "stream %s silent too long (dead air); trying %s",
                    shown(url),
                    shown(self._urls[index]),
                )
                continue
            if got:
                self.drops += 1
                tries = 0
                # counted and reported with the play; not a warning by itself: every live
                # voice's source ends before the broadcaster's "end" reaches the agent. A
                # stream that does not come back is warned of below ("unavailable")
                log.info("stream %s dropped; reconnecting", shown(url))
                self._stop.wait(RETRY_PAUSE_S)
                continue
            tries += 1
            if tries > RECONNECTS_PER_URL:
                index, tries = (index + 1) % len(self._urls), 0
                log.warning(
                    "stream %s unavailable; trying %s", shown(url), shown(self._urls[index])
                )
                if index == 0 and self._fm is not None and not self.fm_on:
                    self.fm_on, self._tuned = self._fm(True), None  # a round without sound
                    if self.fm_on:
                        self.urls_played.append("fm")
            self._stop.wait(RETRY_PAUSE_S)

    def _pump(self, url: str) -> tuple[int, bool]:
        """Decode ``url`` into the buffer until it ends (or, with another source to try,
        until it has been silent too long); returns the bytes it gave and whether it was
        left for its silence."""
        args = [self._ffmpeg, "-v", "error", "-nostdin", "-rw_timeout", str(self._io_timeout_us)]
        if self._low_delay:  # start decoding at once, hold nothing back in ffmpeg
            args += [
                "-fflags",
                "nobuffer",
                "-flags",
                "low_delay",
                "-probesize",
                "4096",
                "-analyzeduration",
                "0",
            ]
        if url == self._fallback:  # a stored file, read a little faster than it plays: the
            args += ["-readrate", "1.05"]  # buffer stays ahead of the sound card
        args += ["-i", url]
        if self._volume is not None and self._volume != 100:
            args += ["-af", f"volume={self._volume / 100:.2f}"]
        args += ["-f", "s16le", "-ac", "1", "-ar", str(SAMPLE_RATE), "-"]
        try:
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:
            self._errors.append(str(exc))
            return 0, False
        self._proc = proc
        got, left_silent = 0, False
        self._dead.reset()
        switch_after = (
            self._silence_limit if url != self._fallback and len(self._urls) > 1 else None
        )
        carry = b""  # keep every buffered part a whole number of samples
        assert proc.stdout is not None
        while not self._stop.is_set():
            data = proc.stdout.read1(READ_BYTES)  # type: ignore[attr-defined]
            if not data:
                break
            if not got:
                self.urls_played.append(url)
                self._fm_off()  # a stream is back: FM off
            got += len(data)
            data = carry + data
            cut = len(data) - len(data) % 2
            carry = data[cut:]
            if cut:
                chunk = data[:cut]
                self._dead.feed(chunk)
                self._push(chunk)
                if switch_after is not None and self._dead.run >= switch_after:
                    left_silent = True
                    self._drop_buffered()  # queued silence is dead air too: not played
                    break
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if not got and proc.stderr is not None:  # reported: never with the credentials
            said = proc.stderr.read().decode(errors="replace").replace(url, shown(url))
            self._errors.append(f"{shown(url)}: " + said.strip()[-200:])
        return got, left_silent

    def _drop_buffered(self) -> None:
        with self._cond:
            self._buffer.clear()
            self._buffered = 0

    def _push(self, data: bytes) -> None:
        with self._cond:
            self._buffer.append(data)
            self._buffered += len(data)
            limit = self._limit
            while self._buffered > limit and self._buffer:
                self._buffered -= len(self._buffer.popleft())
            self._cond.notify_all()
