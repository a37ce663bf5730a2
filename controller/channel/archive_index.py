"""The archive on disk, as the recorder writes it and the controller reads it.

``{archive}/YYYY/MM/DD/HHMMSS.ogg`` — the channel in files of at most an hour, named by their
first sample's time (UTC, to the second); ``index.jsonl`` — one line per closed file
(``file``, ``start``, ``end``, ``bytes``) and one per gap (``gap_from``, ``gap_to``,
``reason``); ``recording.json`` — the file being written and how far (rewritten every
second: the recorder's heartbeat). Parsing is pure; a damaged line is skipped."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

INDEX = "index.jsonl"
RECORDING = "recording.json"
GAP_MIN_S = 0.1  # shorter breaks are the recorder's own rounding, not a gap


@dataclass(frozen=True)
class ArchiveFile:
    name: str  # relative to the archive folder
    start: datetime
    end: datetime
    bytes: int = 0
    open: bool = False  # being written now

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class Gap:
    start: datetime
    end: datetime
    reason: str

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class Recording:
    """What the recorder said last (its heartbeat)."""

    file: ArchiveFile
    updated: datetime
    stream_up: bool


def file_name(start: datetime) -> str:
    """Where a file beginning at ``start`` goes."""
    return start.astimezone(UTC).strftime("%Y/%m/%d/%H%M%S.ogg")


def next_hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def _time(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("not a time")
    t = datetime.fromisoformat(value)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def parse_index(text: str) -> tuple[list[ArchiveFile], list[Gap]]:
    """Closed files and gaps, in time order."""
    files: list[ArchiveFile] = []
    gaps: list[Gap] = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
            if "file" in row:
                files.append(
                    ArchiveFile(
                        str(row["file"]),
                        _time(row["start"]),
                        _time(row["end"]),
                        int(row.get("bytes", 0)),
                    )
                )
            elif "gap_from" in row:
                gaps.append(Gap(_time(row["gap_from"]), _time(row["gap_to"]), str(row["reason"])))
        except (ValueError, KeyError, TypeError):
            continue
    return sorted(files, key=lambda f: f.start), sorted(gaps, key=lambda g: g.start)


def parse_recording(text: str) -> Recording | None:
    try:
        row = json.loads(text)
        file = ArchiveFile(
            str(row["file"]),
            _time(row["start"]),
            _time(row["end"]),
            int(row.get("bytes", 0)),
            open=True,
        )
        return Recording(file, _time(row["updated"]), bool(row.get("stream_up")))
    except (ValueError, KeyError, TypeError):
        return None


def file_line(f: ArchiveFile) -> str:
    return json.dumps(
        {"file": f.name, "start": f.start.isoformat(), "end": f.end.isoformat(), "bytes": f.bytes}
    )


def gap_line(g: Gap) -> str:
    return json.dumps(
        {"gap_from": g.start.isoformat(), "gap_to": g.end.isoformat(), "reason": g.reason}
    )


def read_archive(root: Path) -> tuple[list[ArchiveFile], list[Gap], Recording | None]:
    """Everything the archive folder says (empty when there is none yet)."""
    try:
        files, gaps = parse_index((root / INDEX).read_text(encoding="utf-8"))
    except FileNotFoundError:
        files, gaps = [], []
    try:
        recording = parse_recording((root / RECORDING).read_text(encoding="utf-8"))
    except FileNotFoundError:
        recording = None
    if recording is not None and any(f.name == recording.file.name for f in files):
        recording = None  # closed since (the heartbeat is older than the index line)
    return files, gaps, recording
