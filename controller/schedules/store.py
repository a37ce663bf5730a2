"""The stored schedule set: read it, check a wanted set against real media and zones, sync."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import utcnow

from ..db.models import Schedule, SiteSetting
from .checks import PreviewRow, Problem, check, preview
from .model import DEFAULT_TIMEZONE, ScheduleSet
from .snapshot import fleet, media_durations, stored_schedules
from .targets import Fleet


@dataclass
class SyncResult:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    settings_changed: bool = False
    problems: list[Problem] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        return not (self.added or self.changed or self.removed or self.settings_changed)


class ScheduleStore:
    def __init__(self, sessions: sessionmaker[Session], default_timezone: str = DEFAULT_TIMEZONE):
        self._sessions = sessions
        self._default_tz = default_timezone

    def current(self, session: Session | None = None) -> ScheduleSet:
        """The stored schedule set (what ``export`` writes)."""
        if session is None:
            with self._sessions() as s:
                return stored_schedules(s, self._default_tz)
        return stored_schedules(session, self._default_tz)

    def check(
        self,
        wanted: ScheduleSet,
        *,
        now: datetime | None = None,
        horizon: timedelta = timedelta(days=14),
    ) -> list[Problem]:
        with self._sessions() as session:
            return check(
                wanted,
                now=now or utcnow(),
                horizon=horizon,
                media_ms=media_durations(session),
                fleet=fleet(session),
            )

    def sync(self, wanted: ScheduleSet, *, dry_run: bool = False) -> SyncResult:
        """Make the stored set equal to ``wanted`` (idempotent); nothing changes on a problem."""
        result = SyncResult()
        with self._sessions.begin() as session:
            stored = {row.name: row for row in session.scalars(select(Schedule))}
            wanted_specs = {s.name: s.model_dump(mode="json") for s in wanted.schedules}
            for name, spec in wanted_specs.items():
                if name not in stored:
                    result.added.append(name)
                elif stored[name].spec != spec:
                    result.changed.append(name)
            # a stored one-off that has played (or a rule past its end) is finished, not
            # wrong: it must not block every other edit until someone deletes it
            finished = set(stored) - set(result.added) - set(result.changed)
            result.problems = [
                p
                for p in self.check(wanted)
                if not (p.code == "never_fires" and p.schedule in finished)
            ]
            result.removed = sorted(set(stored) - set(wanted_specs))
            current = self.current(session)
            wanted_settings = _settings(wanted)
            result.settings_changed = _settings(current) != wanted_settings
            if dry_run or result.problems or result.unchanged:
                session.rollback()
                return result
            now = utcnow()
            for name in result.added:
                session.add(
                    Schedule(name=name, spec=wanted_specs[name], created_at=now, updated_at=now)
                )
            for name in result.changed:
                stored[name].spec = wanted_specs[name]
                stored[name].updated_at = now
            for name in result.removed:
                session.delete(stored[name])
            for key, value in wanted_settings.items():
                row = session.get(SiteSetting, key)
                if row is None:
                    session.add(SiteSetting(key=key, value=value))
                else:
                    row.value = value
        return result

    def preview(
        self, start: datetime, end: datetime, schedules: ScheduleSet | None = None
    ) -> tuple[list[PreviewRow], Fleet]:
        """What plays in [start, end) and what preempts what; ``schedules`` if the caller has
        already read the stored set."""
        with self._sessions() as session:
            the_fleet = fleet(session)
            rows = preview(
                schedules or self.current(session), start, end, media_durations(session), the_fleet
            )
        return rows, the_fleet


def _settings(schedules: ScheduleSet) -> dict[str, Any]:
    dumped = schedules.model_dump(mode="json")
    return {"timezone": dumped["timezone"], "quiet_hours": dumped["quiet_hours"]}
