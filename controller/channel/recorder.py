"""The recorder: the channel's paced PCM into Opus files of at most an hour
(``archive_index.py`` says where and how they are listed).

A file's times come from the frames' own times on the station's clock, not from when a write
returned. An encoder that dies (a full disk, a kill) is started again on a new file and the
break is written down as a gap, with its reason; so is the time the whole channel was not
running, found at start from the last heartbeat."""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..streams.sources import PCM_ARGS, Ffmpeg
from .archive_index import (
    GAP_MIN_S,
    INDEX,
    RECORDING,
    ArchiveFile,
    Gap,
    file_line,
    file_name,
    gap_line,
    next_hour,
    read_archive,
)

log = logging.getLogger(__name__)

FRAME_NS = 20_000_000
FRAME_BYTES = 1920
RETRY_NS = 5_000_000_000  # a recorder that keeps failing (a full disk) is tried this often
BEAT_NS = 1_000_000_000


def _at(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


@dataclass
class _Open:
    file: ArchiveFile
    path: Path
    proc: Ffmpeg
    hour_end: datetime
    next_ns: int  # the frame expected next (another one means frames were lost)


class Recorder:
    """Called with every frame of the channel (from one thread)."""

    def __init__(self, root: Path, ffmpeg: str, kbps: int):
        self.root = root
        self._ffmpeg = ffmpeg
        self._kbps = kbps
        root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # index lines come from closing threads too
        self._open: _Open | None = None
        self._next_try_ns = 0
        self._beat_ns = 0
        self._gap_reason = "channel_stopped"
        self._noted = False  # a death is written down however short its gap
        self.stream_up = False  # told by the channel, shown with the heartbeat
        self.last_end = self._recover()

    def _recover(self) -> datetime | None:
        """The file a stopped channel left open is closed in the index at its last beat."""
        files, _gaps, recording = read_archive(self.root)
        if recording is not None:
            left = _as_written(recording.file, self.root / recording.file.name)
            self._append(file_line(left))
            return left.end
        return files[-1].end if files else None

    def write(self, frame: bytes, due_ns: int) -> None:
        """``frame``: whole 20 ms frames of PCM, the first due at ``due_ns``."""
        current = self._open
        at = _at(due_ns)
        if current is not None and (at >= current.hour_end or due_ns != current.next_ns):
            if due_ns != current.next_ns and at < current.hour_end:
                self._gap_reason = "stalled"  # frames were lost on the way here
            self._close(current)
            current = None
        if current is None:
            if due_ns < self._next_try_ns:
                return
            current = self._start(at, due_ns)
        if not current.proc.write(frame):
            log.error("recorder: encoder gone (%s)", current.proc.error() or "no message")
            self._gap_reason = "recorder_died"
            self._close(current, wait=True)  # (already gone: quick) its true end is known
            self._noted = True
            # at once after a file that ran a while; a recorder dying at once (a full disk)
            # is tried again every RETRY_NS
            ran_s = (at - current.file.start).total_seconds()
            self._next_try_ns = due_ns + (FRAME_NS if ran_s > 10 else RETRY_NS)
            return
        span_ns = len(frame) // FRAME_BYTES * FRAME_NS  # (the channel writes 100 ms at a time)
        current.file = replace(current.file, end=_at(due_ns + span_ns))
        current.next_ns = due_ns + span_ns
        self.last_end = current.file.end
        if due_ns - self._beat_ns >= BEAT_NS:
            self._beat_ns = due_ns
            self._heartbeat(current)

    def close(self) -> None:
        if self._open is not None:
            self._close(self._open, wait=True)
        self._gap_reason = "channel_stopped"

    # --- files -----------------------------------------------------------------------------

    def _start(self, at: datetime, due_ns: int) -> _Open:
        gap_s = (at - self.last_end).total_seconds() if self.last_end is not None else 0.0
        if self.last_end is not None and (gap_s >= GAP_MIN_S or self._noted):
            gap = Gap(self.last_end, at, self._gap_reason)
            self._append(gap_line(gap))
            log.warning("archive gap of %.1f s (%s)", gap.seconds, gap.reason)
        name = file_name(at)
        path = self.root / name
        if path.exists():  # started again within the same second
            name = name.replace(".ogg", f"-{due_ns % 1_000_000_000:09d}.ogg")
            path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        args = [self._ffmpeg, *PCM_ARGS, "-i", "pipe:0", "-c:a", "libopus"]
        args += ["-b:a", f"{self._kbps}k", "-application", "voip", "-flush_packets", "1"]
        args += ["-page_duration", "500000"]  # a dying encoder loses at most half a second
        args += ["-f", "ogg", str(path)]
        self._open = _Open(
            ArchiveFile(name, at, at, open=True),
            path,
            Ffmpeg(args, True, False),
            next_hour(at),
            due_ns,
        )
        self._gap_reason = "recorder_died"
        self._noted = False
        return self._open

    def _close(self, current: _Open, wait: bool = False) -> None:
        """Finish the file on a thread of its own (the next one starts at once)."""
        self._open = None

        def finish() -> None:
            current.proc.stop()
            closed = _as_written(current.file, current.path)
            self._append(file_line(closed))
            if wait:
                self.last_end = closed.end

        if wait:
            finish()
        else:
            threading.Thread(target=finish, name="recorder-close", daemon=True).start()

    def _append(self, line: str) -> None:
        try:
            with self._lock, (self.root / INDEX).open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:  # a full disk: the line is lost, the channel goes on
            log.error("archive index not written (%s): %s", exc, line)

    def _heartbeat(self, current: _Open) -> None:
        f = current.file
        beat = {
            "file": f.name,
            "start": f.start.isoformat(),
            "end": f.end.isoformat(),
            "bytes": _size(current.path),
            "updated": datetime.now(UTC).isoformat(),
            "stream_up": self.stream_up,
            "pid": current.proc.pid,
        }
        tmp = self.root / (RECORDING + ".tmp")
        try:
            tmp.write_text(json.dumps(beat), encoding="utf-8")
            os.replace(tmp, self.root / RECORDING)
        except OSError as exc:  # a full disk: the heartbeat waits, the channel goes on
            log.warning("recorder heartbeat not written: %s", exc)


def _as_written(file: ArchiveFile, path: Path) -> ArchiveFile:
    """A file closed: its end as far as its last Ogg page reaches (what an encoder that died
    had not written is a gap), else as last known."""
    end = file.end
    written = ogg_seconds(path)
    if written is not None:
        end = min(end, file.start + timedelta(seconds=written))
    return replace(file, end=end, bytes=_size(path), open=False)


def ogg_seconds(path: Path) -> float | None:
    """How much audio an Ogg Opus file holds: its last page's granule position less the
    pre-skip, at 48 kHz (None when it holds no audio page)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(64)
            fh.seek(max(0, path.stat().st_size - 65536))
            tail = fh.read()
    except OSError:
        return None
    at = head.find(b"OpusHead")
    pre_skip = int.from_bytes(head[at + 10 : at + 12], "little") if at >= 0 else 312
    last = tail.rfind(b"OggS")
    if last < 0 or len(tail) < last + 14:
        return None
    granule = int.from_bytes(tail[last + 6 : last + 14], "little")
    if granule in (0, 0xFFFFFFFFFFFFFFFF):
        return None
    return max(0.0, (granule - pre_skip) / 48000)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
