"""Where a play's PCM comes from: a cached bulletin (decoded once, or by ffmpeg on a pipe) or
a live stream. The player sees only the narrow ``Source`` / ``Sources`` interface."""

from __future__ import annotations

import logging
import ssl
import subprocess
import sys
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from protocol.messages import MediaRef, PlayCommand
from protocol.urls import fm_khz, with_credentials

from .cache import MediaCache, MediaHashMismatch, MediaUnavailable, StorageFull
from .outputs.base import BYTES_PER_SECOND, SAMPLE_RATE
from .stamped_stream import StampedStream
from .stream import DEAD_AIR_S, StreamSource
from .timed_relay import TimedRelay

log = logging.getLogger(__name__)

DECODER_AHEAD_S = 3.0  # start ffmpeg this early: spawning it is the slowest step
PCM_AHEAD_S = 0.2
PCM_CACHE_MAX_MS = 120_000  # media up to 2 min is kept decoded (11 MB) and starts instantly
STREAM_AHEAD_S = 3.0  # connect to a stream this early: its buffer absorbs a slow start


class Source(Protocol):
    """PCM for one play: 16-bit mono at ``SAMPLE_RATE``; ``b""`` at its end."""

    def read(self, size: int) -> bytes: ...

    def align(self, heard_at: datetime, clock_offset_s: float = 0.0) -> None:
        """The next sample read is heard at ``heard_at`` (``+ clock_offset_s`` in true
        time): a stream on the station's timeline picks its audio by it; others ignore it."""
        ...

    def error(self) -> str:
        """Why it produced nothing (for the failure report)."""
        ...

    def close(self) -> None: ...

    def outcome(self, written: int) -> SourceOutcome:
        """After the play: a failure to report instead of "finished" (unless the play was
        stopped), and the extra fields "finished" carries."""
        ...


@dataclass(frozen=True)
class SourceOutcome:
    failure: tuple[str, str] | None = None  # (reason, detail)
    extra: dict[str, Any] = field(default_factory=dict)


class SourceFailed(Exception):
    """A play cannot get its audio; ``reason`` is the stable code reported to the controller."""

    def __init__(self, reason: str, detail: str = "", security: bool = False):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.security = security  # the bytes are not the signed ones


@dataclass(frozen=True)
class Prepared:
    """What ``prepare`` made ready ahead of the start."""

    ahead_s: float  # open the source this long before the start
    fetched_bytes: int | None = None  # None for streams (nothing to fetch)
    path: Path | None = None
    pcm: Path | None = None


class Sources(Protocol):
    def prepare(self, cmd: PlayCommand, deadline_ts: float) -> Prepared:
        """Fetch and check what the play needs; raises ``SourceFailed``."""
        ...

    def open(
        self, cmd: PlayCommand, prepared: Prepared, volume: int | None, offset_s: float = 0.0
    ) -> Source:
        """Open the PCM source, just ahead of the start; a late join starts ``offset_s``
        into stored media (streams are live and ignore it)."""
        ...


def pcm_bytes(seconds: float) -> int:
    """Whole samples of PCM in ``seconds`` (never half a sample)."""
    return max(0, round(seconds * SAMPLE_RATE)) * (BYTES_PER_SECOND // SAMPLE_RATE)


class PcmFile:
    """Already decoded audio from the cache; volume applied in Python (gain <= 1)."""

    def __init__(self, path: Path, volume: int | None, offset_s: float = 0.0):
        self._fh = open(path, "rb")
        self._fh.seek(pcm_bytes(offset_s))
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

    def align(self, heard_at: datetime, clock_offset_s: float = 0.0) -> None:
        pass

    def error(self) -> str:
        return "cached PCM is empty"

    def close(self) -> None:
        self._fh.close()

    def outcome(self, written: int) -> SourceOutcome:
        return SourceOutcome()


class Decoder:
    """ffmpeg decoding the cached Opus file to PCM on a pipe."""

    def __init__(self, ffmpeg: str, path: Path, volume: int | None, offset_s: float = 0.0):
        args = [ffmpeg, "-v", "error", "-nostdin"]
        if offset_s > 0:  # an input seek: ffmpeg decodes from there, no PCM read to skip
            args += ["-ss", f"{offset_s:.3f}"]
        args += ["-i", str(path)]
        if volume is not None and volume != 100:
            args += ["-af", f"volume={volume / 100:.2f}"]
        args += ["-f", "s16le", "-ac", "1", "-ar", str(SAMPLE_RATE), "-"]
        self._proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def read(self, size: int) -> bytes:
        assert self._proc.stdout is not None
        return self._proc.stdout.read(size)

    def align(self, heard_at: datetime, clock_offset_s: float = 0.0) -> None:
        pass

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
        for pipe in (self._proc.stdout, self._proc.stderr):
            if pipe is not None:
                pipe.close()

    def outcome(self, written: int) -> SourceOutcome:
        return SourceOutcome()


class Stream:
    """A live stream as a source: it fails if nothing at all came from any URL."""

    def __init__(
        self,
        ffmpeg: str,
        cmd: PlayCommand,
        volume: int | None,
        credentials: tuple[str, str] | None = None,
        live_buffer_s: float = 1.0,
        fallback_file: Path | None = None,
        fm: Callable[[bool], bool] | None = None,
        tls: ssl.SSLContext | None = None,
        tuner: Callable[[bool, float], bool] | None = None,
    ):
        assert cmd.stream is not None
        stream = cmd.stream
        urls = [
            with_credentials(u, *credentials) if stream.auth and credentials else u
            for u in stream.urls
        ]
        self._delay_ms = stream.delay_ms if stream.live or stream.station_url else None
        fallback = str(fallback_file) if fallback_file else None

        def originals(seconds: float) -> StreamSource:
            """The stream's own URLs (then the fallback file, then FM), as they arrive."""
            return StreamSource(
                ffmpeg,
                urls,
                seconds,
                volume,
                buffer_max_s=live_buffer_s if stream.live else None,
                silence_s=stream.silence_s or (None if stream.live else DEAD_AIR_S),
                fallback_file=fallback,
                fm=None if stream.live or fallback_file else fm,
                tuner=tuner,
            )

        # reported without the credentials; the fallback file and the tuner by name
        self._shown = [*stream.urls, *(["fallback"] if fallback_file else [])]
        self._source: StreamSource | StampedStream | TimedRelay
        if stream.station_url and stream.delay_ms:  # a relay through the station's copy
            station = stream.station_url
            copy = StampedStream(
                with_credentials(station, *credentials) if credentials else station,
                stream.duration_s,
                volume,
                stream.delay_ms / 1000,
                tls=tls,
            )
            self._source = TimedRelay(
                copy,
                originals,
                urls + ([fallback] if fallback else []),
                stream.duration_s,
                mute_s=stream.silence_s,
            )
            self._shown = [station, *self._shown]
        elif self._delay_ms is not None:  # the station's stamped live stream: on its timeline
            self._source = StampedStream(
                urls[0], stream.duration_s, volume, self._delay_ms / 1000, tls=tls
            )
            self._shown = [stream.url]
        else:
            self._source = originals(stream.duration_s)

    def read(self, size: int) -> bytes:
        return self._source.read(size)

    def align(self, heard_at: datetime, clock_offset_s: float = 0.0) -> None:
        if isinstance(self._source, (StampedStream, TimedRelay)):
            self._source.align(heard_at, clock_offset_s)

    def error(self) -> str:
        return self._source.error()

    def close(self) -> None:
        self._source.close()

    def _tuned_bytes(self) -> int:
        return self._source.tuned_bytes if isinstance(self._source, StreamSource) else 0

    def outcome(self, written: int) -> SourceOutcome:
        failure = None
        tuned = [u for u in self._source.urls_played if u == "fm" or fm_khz(u) is not None]
        if not self._source.audio_bytes and not tuned:
            failure = ("stream_unavailable", self._source.error())
        # while the tuner feeds the amplifiers the Pi's silence is no gap
        gaps = max(0, written - self._source.audio_bytes - self._tuned_bytes())
        silence_ms = round(gaps * 1000 / BYTES_PER_SECOND)
        dead_ms = min(
            round((gaps + self._source.silent_bytes) * 1000 / BYTES_PER_SECOND),
            round(written * 1000 / BYTES_PER_SECOND),
        )
        played = [
            u if u == "fm" else self._shown[self._source.urls.index(u)]
            for u in self._source.urls_played
        ]
        extra: dict[str, Any] = dict(
            stream_urls=played,
            silence_ms=silence_ms,
            dead_air_ms=dead_ms,
            silence_switches=self._source.silence_switches,
        )
        if isinstance(self._source, (StampedStream, TimedRelay)):
            extra.update(
                live_delay_ms=self._delay_ms,
                stamped=self._source.stamped,
                late_ms=self._source.late_ms,
            )
        return SourceOutcome(failure=failure, extra=extra)


class MediaSources:
    """The agent's real sources: the media cache, ffmpeg, HTTP streams."""

    def __init__(
        self,
        cache: MediaCache,
        ffmpeg: str = "ffmpeg",
        pcm_max_ms: int = PCM_CACHE_MAX_MS,
        credentials: tuple[str, str] | None = None,
        live_buffer_s: float = 1.0,
        fm: Callable[[bool], bool] | None = None,
        tls: ssl.SSLContext | None = None,
        tuner: Callable[[bool, float], bool] | None = None,
    ):
        self._tls = tls  # the station's CA, for a stream server on https
        self._cache = cache
        self._fm = fm  # the board's FM tuner as a relay's last resort
        self._tuner = tuner  # the same tuner for a relay of an ``fm:<kHz>`` URL
        self._ffmpeg = ffmpeg
        self._pcm_max_ms = pcm_max_ms
        self._credentials = credentials  # for the station's own stream server
        self._live_buffer_s = live_buffer_s

    def prepare(self, cmd: PlayCommand, deadline_ts: float) -> Prepared:
        if cmd.stream is not None:
            fallback = cmd.stream.fallback_media
            if fallback is None:
                return Prepared(ahead_s=STREAM_AHEAD_S)
            try:  # a relay's fallback file is fetched ahead like any bulletin
                path, fetched = self._cache.fetch(fallback, deadline=deadline_ts)
            except (MediaHashMismatch, MediaUnavailable) as exc:
                log.warning("relay fallback %s not fetched: %s", fallback.sha256[:12], exc)
                return Prepared(ahead_s=STREAM_AHEAD_S)
            return Prepared(ahead_s=STREAM_AHEAD_S, fetched_bytes=fetched, path=path)
        assert cmd.media is not None
        return self.prefetch(cmd.media, deadline_ts)

    def prefetch(self, media: MediaRef, deadline_ts: float) -> Prepared:
        """Fetch (hash-checked) and, for short media, decode ahead: what a play needs, done
        before it (a plan entry, an emergency waiting for confirmation)."""
        try:
            path, fetched = self._cache.fetch(media, deadline=deadline_ts)
        except MediaHashMismatch as exc:
            raise SourceFailed("media_hash_mismatch", str(exc), security=True) from None
        except StorageFull as exc:
            raise SourceFailed("disk_full", str(exc)) from None
        except MediaUnavailable as exc:
            raise SourceFailed("media_unavailable", str(exc)) from None
        pcm = None
        if media.duration_ms <= self._pcm_max_ms:
            try:
                pcm = self._cache.ensure_pcm(media.sha256, self._ffmpeg, SAMPLE_RATE)
            except (OSError, subprocess.TimeoutExpired) as exc:
                log.warning(
                    "could not pre-decode %s (%s); decoding at play time", media.sha256[:12], exc
                )
        return Prepared(
            ahead_s=PCM_AHEAD_S if pcm else DECODER_AHEAD_S,
            fetched_bytes=fetched,
            path=path,
            pcm=pcm,
        )

    def open(
        self, cmd: PlayCommand, prepared: Prepared, volume: int | None, offset_s: float = 0.0
    ) -> Source:
        if cmd.stream is not None:
            return Stream(
                self._ffmpeg,
                cmd,
                volume,
                self._credentials,
                self._live_buffer_s,
                fallback_file=prepared.path,
                fm=self._fm,
                tls=self._tls,
                tuner=self._tuner,
            )
        if prepared.pcm is not None:
            return PcmFile(prepared.pcm, volume, offset_s)
        assert prepared.path is not None
        return Decoder(self._ffmpeg, prepared.path, volume, offset_s)
