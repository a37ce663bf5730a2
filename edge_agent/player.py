"""Plays at the right instant, one play at a time per output, higher priority first.

Each scheduled play has a thread: fetch the media, decode it ahead (short media once into the
cache, long media through an ffmpeg pipe opened a few seconds before the start), wait for the
exact ``start_at`` on the wall clock (NTP-disciplined), take the output (preempting a lower
priority), and stream PCM to the sink. Everything it does is reported through ``emit``.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
import uuid
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from protocol.messages import (
    MediaReadyEvent,
    PlaybackFailedEvent,
    PlaybackFinishedEvent,
    PlaybackStartedEvent,
    PlayCommand,
    SecurityEvent,
    utcnow,
)

from .cache import MediaCache, MediaHashMismatch, MediaUnavailable
from .cluster import Cluster
from .outputs.base import BYTES_PER_SECOND, AudioOutput, PlayInfo, SAMPLE_RATE, Sink
from .stream import StreamSource

log = logging.getLogger(__name__)

CHUNK_BYTES = BYTES_PER_SECOND // 10  # 100 ms: few wake-ups on a Pi, STOP still prompt
DECODER_AHEAD_S = 3.0  # start ffmpeg this early: spawning it is the slowest step
PCM_AHEAD_S = 0.2
PREROLL_BYTES = BYTES_PER_SECOND // 5  # 200 ms decoded before the start instant
PCM_CACHE_MAX_MS = 120_000  # media up to 2 min is kept decoded (11 MB) and starts instantly
STREAM_AHEAD_S = 3.0  # connect to a stream this early: its buffer absorbs a slow start

Source = Any  # _PcmFile | _Decoder | StreamSource: read(n), error(), close()


class _PcmFile:
    """Already decoded audio from the cache; volume applied in Python (gain <= 1)."""

    def __init__(self, path: Path, volume: int | None):
        self._fh = open(path, "rb")
        self._gain = 1.0 if volume is None else volume / 100

    def read(self, size: int) -> bytes:
        data = self._fh.read(size)
        if self._gain == 1.0 or not data:
            return data
        samples = array("h")
        samples.frombytes(data[: len(data) // 2 * 2])
        if sys.byteorder != "little":
            samples.byteswap()
        scaled = array("h", (int(x * self._gain) for x in samples))
        if sys.byteorder != "little":
            scaled.byteswap()
        return scaled.tobytes()

    def error(self) -> str:
        return "cached PCM is empty"

    def close(self) -> None:
        self._fh.close()


class _Decoder:
    """ffmpeg decoding the cached Opus file to PCM on a pipe."""

    def __init__(self, ffmpeg: str, path: Path, volume: int | None):
        args = [ffmpeg, "-v", "error", "-nostdin", "-i", str(path)]
        if volume is not None and volume != 100:
            args += ["-af", f"volume={volume / 100:.2f}"]
        args += ["-f", "s16le", "-ac", "1", "-ar", str(SAMPLE_RATE), "-"]
        self._proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def read(self, size: int) -> bytes:
        assert self._proc.stdout is not None
        return self._proc.stdout.read(size)

    def error(self) -> str:
        try:
            self._proc.wait(timeout=2)
            err = self._proc.stderr.read() if self._proc.stderr else b""
            return err.decode(errors="replace")[-300:] or "decoder produced no audio"
        except subprocess.TimeoutExpired:
            return "decoder produced no audio"

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()


@dataclass
class _Play:
    cmd: PlayCommand
    not_after: datetime
    cancelled: threading.Event = field(default_factory=threading.Event)
    interrupt: threading.Event = field(default_factory=threading.Event)
    interrupted_by: str | None = None


class Player:
    def __init__(self, device_id: str, output: AudioOutput, cache: MediaCache,
                 emit: Callable[[Any], None], ffmpeg: str = "ffmpeg",
                 pcm_max_ms: int = PCM_CACHE_MAX_MS, cluster: Cluster | None = None,
                 software_volume: Callable[[], int] = lambda: 100,
                 on_over: Callable[[str], None] = lambda play_id: None):
        self.device_id = device_id
        self.output = output
        self.cache = cache
        self.cluster = cluster
        self._software_volume = software_volume
        self._on_over = on_over
        self._emit = emit
        self._ffmpeg = ffmpeg
        self._pcm_max_ms = pcm_max_ms
        self._plays: dict[str, _Play] = {}
        self._lock = threading.Condition()
        self._current: _Play | None = None
        self._stopping = threading.Event()

    # --- public ---------------------------------------------------------------------------

    def schedule(self, cmd: PlayCommand, not_after: datetime) -> None:
        play = _Play(cmd, not_after)
        with self._lock:
            self._plays[cmd.play_id] = play
        threading.Thread(target=self._run, args=(play,), name=f"play-{cmd.play_id[:12]}",
                         daemon=True).start()

    def has(self, play_id: str) -> bool:
        """Whether the play is scheduled or playing in this process."""
        with self._lock:
            return play_id in self._plays

    def cancel_pending(self, play_id: str) -> None:
        """Drop a play that has not started (a plan no longer has it); leave it if playing."""
        with self._lock:
            play = self._plays.get(play_id)
            if play is None or self._current is play:
                return
        play.interrupted_by = "plan"
        play.cancelled.set()

    def cancel(self, play_id: str) -> None:
        with self._lock:
            play = self._plays.get(play_id)
        if play is not None:
            play.interrupted_by = "cancel"
            play.cancelled.set()
            play.interrupt.set()

    def stop_now(self, reason: str = "stop") -> None:
        """Silence the device (signed STOP): what plays now and what was about to start.

        Plays due later (a bulletin at 17:00) stay scheduled: STOP is about this moment.
        """
        now = utcnow()
        with self._lock:
            due = [p for p in self._plays.values()
                   if p is self._current or p.cmd.start_at <= now]
        for play in due:
            play.interrupted_by = reason
            play.cancelled.set()
            play.interrupt.set()

    def media_in_use(self) -> set[str]:
        with self._lock:
            return {p.cmd.media.sha256 for p in self._plays.values() if p.cmd.media}

    def shutdown(self) -> None:
        self._stopping.set()
        with self._lock:
            plays = list(self._plays.values())
        for play in plays:
            play.interrupted_by = "shutdown"
            play.cancelled.set()
            play.interrupt.set()

    def active_play_ids(self) -> list[str]:
        with self._lock:
            return list(self._plays)

    # --- one play -------------------------------------------------------------------------

    def _event(self, cls: type, **fields: Any) -> Any:
        return cls(event_id=uuid.uuid4().hex, device_id=self.device_id, ts=utcnow(), **fields)

    def _fail(self, play: _Play, reason: str, detail: str = "") -> None:
        self._emit(self._event(PlaybackFailedEvent, play_id=play.cmd.play_id,
                               broadcast_id=play.cmd.broadcast_id, reason=reason,
                               detail=detail[:300]))

    def _run(self, play: _Play) -> None:
        try:
            self._run_play(play)
        except Exception as exc:  # never die silently: the controller must learn why
            log.exception("play %s failed", play.cmd.play_id)
            self._fail(play, "agent_error", f"{type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._plays.pop(play.cmd.play_id, None)
            if not self._stopping.is_set():  # a shutdown is not the end of the play
                self._on_over(play.cmd.play_id)

    def _volume(self, cmd: PlayCommand) -> int | None:
        """The gain applied in software: the play's volume times the device's (if not in hardware)."""
        level = round((100 if cmd.volume is None else cmd.volume) * self._software_volume() / 100)
        return None if level == 100 else level

    def _warm_up(self, play: _Play, start_ts: float, ahead: float) -> bool:
        """Sleep to the amplifier lead (or ``ahead``), power up; True if cancelled meanwhile."""
        lead = self.cluster.lead_s if self.cluster else 0.0
        if self._sleep_until(start_ts - max(lead, ahead), play):
            return True
        if self.cluster:
            self.cluster.warm_up(play.cmd.play_id)
        return False

    def _run_play(self, play: _Play) -> None:
        try:
            if play.cmd.stream is not None:
                self._run_stream(play)
            else:
                self._run_media(play)
        finally:
            if self.cluster:
                self.cluster.release(play.cmd.play_id)

    def _run_media(self, play: _Play) -> None:
        cmd = play.cmd
        assert cmd.media is not None
        try:
            path, fetched = self.cache.fetch(cmd.media, deadline=play.not_after.timestamp())
        except MediaHashMismatch as exc:
            self._emit(self._event(SecurityEvent, reason="media_hash_mismatch", detail=str(exc),
                                   play_id=cmd.play_id))
            self._fail(play, "media_hash_mismatch", str(exc))
            return
        except MediaUnavailable as exc:
            self._fail(play, "media_unavailable", str(exc))
            return
        self._emit(self._event(MediaReadyEvent, play_id=cmd.play_id, sha256=cmd.media.sha256,
                               fetched_bytes=fetched))
        pcm = None
        if cmd.media.duration_ms <= self._pcm_max_ms:
            try:
                pcm = self.cache.ensure_pcm(cmd.media.sha256, self._ffmpeg, SAMPLE_RATE)
            except (OSError, subprocess.TimeoutExpired) as exc:
                log.warning("could not pre-decode %s (%s); decoding at play time",
                            cmd.media.sha256[:12], exc)
        start_ts = cmd.start_at.timestamp()
        ahead = PCM_AHEAD_S if pcm else DECODER_AHEAD_S
        if self._warm_up(play, start_ts, ahead) or self._sleep_until(start_ts - ahead, play):
            return
        if utcnow() > play.not_after:
            self._fail(play, "too_late", "media or command arrived after the play window")
            return
        volume = self._volume(cmd)
        source = _PcmFile(pcm, volume) if pcm else _Decoder(self._ffmpeg, path, volume)
        try:
            preroll = _read_exact(source, PREROLL_BYTES)
            if not preroll:
                self._fail(play, "decode_failed", source.error())
                return
            self._play_when_due(play, source, preroll)
        finally:
            source.close()

    def _run_stream(self, play: _Play) -> None:
        cmd = play.cmd
        assert cmd.stream is not None
        start_ts = cmd.start_at.timestamp()
        if self._warm_up(play, start_ts, STREAM_AHEAD_S) or \
                self._sleep_until(start_ts - STREAM_AHEAD_S, play):
            return
        if utcnow() > play.not_after:
            self._fail(play, "too_late", "the stream's slot had passed")
            return
        source = StreamSource(self._ffmpeg, cmd.stream.urls, cmd.stream.duration_s,
                              self._volume(cmd))
        try:
            self._play_when_due(play, source, b"")
        finally:
            source.close()

    def _play_when_due(self, play: _Play, source: Source, preroll: bytes) -> None:
        if self._sleep_until(play.cmd.start_at.timestamp(), play):
            return
        if not self._take_output(play):
            if play.cancelled.is_set():
                self._fail(play, "cancelled", play.interrupted_by or "")
            else:
                self._fail(play, "output_busy",
                           "a play of equal or higher priority held the output")
            return
        try:
            self._play_stream(play, source, preroll)
        finally:
            self._release_output(play)

    def _play_stream(self, play: _Play, source: Source, preroll: bytes) -> None:
        cmd = play.cmd
        sink: Sink = self.output.open(PlayInfo(cmd.play_id, cmd.broadcast_id, cmd.title,
                                               cmd.start_at))
        sink.start()
        actual_start = datetime.now(timezone.utc)
        if self.cluster:
            self.cluster.started(cmd.play_id)
        self._emit(self._event(PlaybackStartedEvent, play_id=cmd.play_id,
                               broadcast_id=cmd.broadcast_id, scheduled_start=cmd.start_at,
                               actual_start=actual_start))
        written = 0
        buffered = preroll
        error: str | None = None
        try:
            while not play.interrupt.is_set():
                if not buffered:
                    buffered = source.read(CHUNK_BYTES)
                    if not buffered:
                        break
                chunk, buffered = buffered[:CHUNK_BYTES], buffered[CHUNK_BYTES:]
                sink.write(chunk)
                written += len(chunk)
        except OSError as exc:
            error = str(exc)
        actual_end = datetime.now(timezone.utc)
        interrupted = play.interrupt.is_set()
        sink.close(actual_start=actual_start, actual_end=actual_end, interrupted=interrupted)
        line_check = self.cluster.ended(cmd.play_id) if self.cluster else None
        if error:
            self._fail(play, "output_error", error)
            return
        extra: dict[str, Any] = {}
        if isinstance(source, StreamSource):
            if not source.audio_bytes:
                self._fail(play, "stream_unavailable", source.error())
                return
            extra = dict(stream_urls=source.urls_played,
                         silence_ms=round((written - source.audio_bytes) * 1000
                                          / BYTES_PER_SECOND))
        self._emit(self._event(
            PlaybackFinishedEvent, play_id=cmd.play_id, broadcast_id=cmd.broadcast_id,
            scheduled_start=cmd.start_at, actual_start=actual_start, actual_end=actual_end,
            interrupted=interrupted, interrupted_by=play.interrupted_by if interrupted else None,
            played_ms=round(written * 1000 / BYTES_PER_SECOND), line_check=line_check,
            **extra))

    # --- helpers --------------------------------------------------------------------------

    def _sleep_until(self, ts: float, play: _Play) -> bool:
        """Wait for wall-clock ``ts``; True if the play was cancelled meanwhile."""
        while True:
            remaining = ts - time.time()
            if play.cancelled.is_set():
                return True
            if remaining <= 0:
                return False
            if remaining > 0.005:
                play.cancelled.wait(min(remaining - 0.003, 1.0))
            else:
                time.sleep(0.0005)

    def _take_output(self, play: _Play) -> bool:
        """Own the output; preempt a lower priority; wait for an equal or higher one."""
        with self._lock:
            while True:
                if play.cancelled.is_set():
                    return False
                current = self._current
                if current is None:
                    self._current = play
                    return True
                if play.cmd.priority.rank > current.cmd.priority.rank:
                    current.interrupted_by = f"{play.cmd.priority.value}:{play.cmd.play_id}"
                    current.interrupt.set()
                elif utcnow() > play.not_after:
                    return False
                self._lock.wait(0.05)

    def _release_output(self, play: _Play) -> None:
        with self._lock:
            if self._current is play:
                self._current = None
            self._lock.notify_all()


def _read_exact(stream: Source, size: int) -> bytes:
    parts = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)
