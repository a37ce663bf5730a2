"""The archive, as people use it: a day's hour files and gaps beside what aired that day
(``Lưu trữ``), the disk it takes and will take for the station's retention, pruning past the
retention (audited), and an alarm well before the disk is full.

The files are the channel process's (``controller/channel/recorder.py``); this side only
reads them, lists them and deletes the expired ones."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import utcnow

from ..channel.archive_index import ArchiveFile, Gap, Recording, read_archive
from ..db.models import Broadcast
from ..domain.broadcast import BroadcastState
from ..domain.delivery import DeliveryState
from ..domain.errors import NotFound
from ..settings import Settings
from .alarms import AlarmService
from .audit import AuditLog
from .station import StationService

FILE_ID = re.compile(r"^(\d{4})(\d{2})(\d{2})-(\d{6}(?:-\d{9})?\.ogg)$")
DISK_ALARM = "archive_disk"
CHANNEL_SILENT_S = 30.0  # a heartbeat this old: the channel process is not running
NOMINAL_BYTES_PER_HOUR = 24_000 / 8 * 3600  # before anything is measured (24 kb/s)
AIRED = (BroadcastState.sent, BroadcastState.done, BroadcastState.cancelled)


def aired_between(start: datetime, end: datetime) -> Select[tuple[Broadcast]]:
    """The broadcasts sent to the loudspeakers that began in [start, end), in time order."""
    return (
        select(Broadcast)
        .where(
            Broadcast.start_at >= start,
            Broadcast.start_at < end,
            Broadcast.state.in_([s.value for s in AIRED]),
        )
        .order_by(Broadcast.start_at)
    )


def file_id(name: str) -> str:
    """A file's id in URLs: ``2026/12/07/080000.ogg`` → ``20261207-080000.ogg``."""
    return name[:10].replace("/", "") + "-" + name[11:]


@dataclass(frozen=True)
class Usage:
    """The disk the archive takes, and what the station's retention will take."""

    files: int
    bytes: int
    hours: float
    bytes_per_hour: float  # measured (nominal until an hour is recorded)
    months: int
    need_bytes: float  # the retention at the measured rate
    disk_free: int
    disk_total: int
    alarm: bool  # free below the station's margin

    @property
    def days_left(self) -> float:
        return self.disk_free / max(1.0, self.bytes_per_hour * 24)


@dataclass(frozen=True)
class AiredItem:
    id: str
    title: str
    start: datetime  # local
    priority: str
    kind: str  # "media" | "live" | "relay"
    devices: int
    played: int
    media_sha256: str | None


@dataclass(frozen=True)
class ArchiveDay:
    day: date
    files: list[ArchiveFile]  # overlapping the day (local), in order
    gaps: list[Gap]
    aired: list[AiredItem]
    recording: Recording | None
    channel_running: bool


class ArchiveService:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        station: StationService,
        audit: AuditLog,
        alarms: AlarmService,
    ):
        self.root = settings.resolved_archive_dir
        self._settings = settings
        self._sessions = sessions
        self._station = station
        self._audit = audit
        self._alarms = alarms
        self.tz = ZoneInfo(settings.timezone)

    # --- reading -------------------------------------------------------------------------

    def today(self) -> date:
        return utcnow().astimezone(self.tz).date()

    def aware(self, at: datetime) -> datetime:
        """A time without an offset is the station's."""
        return at if at.tzinfo else at.replace(tzinfo=self.tz)

    def zip_name(self, start: datetime, end: datetime) -> str:
        a, b = self.aware(start).astimezone(self.tz), self.aware(end).astimezone(self.tz)
        return f"luu-tru-{a:%Y%m%d-%H%M}-{b:%Y%m%d-%H%M}.zip"

    def day(self, day: date) -> ArchiveDay:
        start = datetime.combine(day, time(), self.tz).astimezone(UTC)
        end = start + timedelta(days=1)
        files, gaps, recording = self._existing()
        if recording is not None:
            files.append(recording.file)
        return ArchiveDay(
            day,
            [f for f in files if f.start < end and f.end > start],
            [g for g in gaps if g.start < end and g.end > start],
            self.aired(start, end),
            recording,
            self.channel_running(recording),
        )

    def between(self, start: datetime, end: datetime) -> tuple[list[ArchiveFile], list[Gap]]:
        files, gaps, recording = self._existing()
        if recording is not None:
            files.append(recording.file)
        return (
            [f for f in files if f.start < end and f.end > start],
            [g for g in gaps if g.start < end and g.end > start],
        )

    def aired(self, start: datetime, end: datetime) -> list[AiredItem]:
        """What was sent to the loudspeakers in [start, end), with how many played it."""
        with self._sessions() as session:
            rows = session.scalars(aired_between(start, end)).all()
            return [
                AiredItem(
                    b.id,
                    b.title or (b.media.title if b.media else ""),
                    b.start_at.astimezone(self.tz),
                    b.priority,
                    b.stream["kind"] if b.stream else "media",
                    len(b.deliveries),
                    sum(1 for d in b.deliveries if d.state == DeliveryState.played),
                    b.media_sha256,
                )
                for b in rows
            ]

    def path(self, file_id: str) -> Path:
        """An archive file by its id (``file_id``); NotFound for anything else: no path tricks."""
        found = FILE_ID.match(file_id)
        if found is None:
            raise NotFound("archive.not_found")
        path = self.root.joinpath(*found.groups())
        if not path.is_file():
            raise NotFound("archive.not_found")
        return path

    def channel_running(self, recording: Recording | None = None) -> bool:
        if recording is None:
            recording = read_archive(self.root)[2]
        return recording is not None and (
            (utcnow() - recording.updated).total_seconds() < CHANNEL_SILENT_S
        )

    def _existing(self) -> tuple[list[ArchiveFile], list[Gap], Recording | None]:
        """The index's files still on disk (pruned ones are gone, their lines stay)."""
        files, gaps, recording = read_archive(self.root)
        return [f for f in files if (self.root / f.name).is_file()], gaps, recording

    # --- the disk ------------------------------------------------------------------------

    def usage(self) -> Usage:
        files, _gaps, recording = self._existing()
        if recording is not None:
            files.append(recording.file)
        size = sum(f.bytes for f in files)
        hours = sum(f.seconds for f in files) / 3600
        rate = size / hours if hours >= 1 else NOMINAL_BYTES_PER_HOUR
        months = self._station.get().archive_months
        self.root.mkdir(parents=True, exist_ok=True)
        disk = shutil.disk_usage(self.root)
        margin = max(
            disk.total * self._settings.archive_alarm_free_pct / 100,
            rate * 24 * self._settings.archive_alarm_days,
        )
        return Usage(
            len(files),
            size,
            hours,
            rate,
            months,
            rate * 24 * 30.44 * months,
            disk.free,
            disk.total,
            disk.free < margin,
        )

    def check_disk(self) -> bool:
        """Raise the archive's disk alarm when free space is short, clear it when not (the
        channel never stops for it). Returns whether it is raised."""
        u = self.usage()
        detail = f"còn trống {u.disk_free / 1e9:.1f} GB (~{u.days_left:.0f} ngày ghi)"
        self._alarms.station_alarm(DISK_ALARM, DISK_ALARM, detail, u.alarm)
        return u.alarm

    def prune(self, now: datetime | None = None) -> int:
        """Delete the hour files that ended before the retention; audited with what went."""
        now = now or utcnow()
        months = self._station.get().archive_months
        cutoff = now - timedelta(days=round(30.44 * months))
        files, _gaps, _recording = self._existing()
        gone = [f for f in files if f.end < cutoff]
        freed = 0
        for f in gone:
            path = self.root / f.name
            try:
                freed += path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                continue
        if gone:
            self._audit.record(
                "system",
                "archive.pruned",
                f"{gone[0].start.isoformat()}..{gone[-1].end.isoformat()}",
                files=len(gone),
                bytes=freed,
                months=months,
            )
        return len(gone)
