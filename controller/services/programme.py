"""The programme of a period: what plays when and where, schedules and one-off broadcasts
together, in local time — for the home page, the week calendar and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import utcnow

from ..db.models import Broadcast
from ..domain.broadcast import BroadcastState
from ..schedules.store import ScheduleStore


@dataclass(frozen=True)
class ProgrammeItem:
    start: datetime  # local time
    title: str
    targets: list[str]
    priority: str
    kind: str  # "schedule" | "broadcast"
    schedule: str | None = None
    id: str | None = None
    state: str | None = None
    on_release: bool = False  # held: plays when approved, not at ``start``


class ProgrammeService:
    def __init__(self, sessions: sessionmaker[Session], schedules: ScheduleStore, timezone: str):
        self._sessions = sessions
        self._schedules = schedules
        self._tz = ZoneInfo(timezone)

    def between(self, start: datetime, end: datetime) -> list[ProgrammeItem]:
        """What plays in [start, end): scheduled occurrences from now on (by their schedule's
        title) and one-off broadcasts (with their state), in time order."""
        stored = self._schedules.current()
        rows, _ = self._schedules.preview(max(start, utcnow()), end, stored)
        titles = {spec.name: spec.title or spec.name for spec in stored.schedules}
        items = [
            ProgrammeItem(
                start=r.occurrence.start.astimezone(self._tz),
                title=titles.get(r.occurrence.schedule, r.occurrence.schedule),
                targets=list(r.occurrence.targets),
                priority=r.occurrence.priority,
                kind="schedule",
                schedule=r.occurrence.schedule,
            )
            for r in rows
        ]
        hidden = (
            BroadcastState.cancelled.value,
            BroadcastState.rejected.value,
            BroadcastState.draft.value,
        )
        with self._sessions() as session:
            for b in session.scalars(
                select(Broadcast).where(
                    Broadcast.start_at >= start,
                    Broadcast.start_at < end,
                    Broadcast.schedule.is_(None),
                    Broadcast.state.notin_(hidden),
                )
            ):
                items.append(
                    ProgrammeItem(
                        start=b.start_at.astimezone(self._tz),
                        title=b.title or b.id,
                        targets=list(b.targets),
                        priority=b.priority,
                        kind="broadcast",
                        id=b.id,
                        state=b.state,
                        on_release=bool(
                            b.start_on_release
                            and b.state
                            in (
                                BroadcastState.pending_approval.value,
                                BroadcastState.pending_confirmation.value,
                            )
                        ),
                    )
                )
        return sorted(items, key=lambda item: item.start)
