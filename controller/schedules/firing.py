"""Central firing of schedule occurrences.

Every occurrence that starts within the prefetch lead becomes a broadcast whose id is the
play id the device's plan already holds, and is sent as a signed "play at T" command like any
broadcast: it can carry last-minute changes, devices whose plan missed it still play it, and the
controller tracks it per device. Both paths carry one play id, so a play happens once. Created
rows are the memory: a restart never fires an occurrence twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import Priority, utcnow

from ..db.models import Broadcast
from ..domain.broadcast import BroadcastState
from ..services.broadcasting import BroadcastService
from .planning import planned_plays
from .snapshot import read_snapshot

log = logging.getLogger(__name__)

TICK_S = 30.0


class ScheduleFiring:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        broadcasts: BroadcastService,
        default_timezone: str,
        prefetch_lead_s: float,
    ):
        self._sessions = sessions
        self._broadcasts = broadcasts
        self._default_tz = default_timezone
        self._lead = timedelta(seconds=prefetch_lead_s + 2 * TICK_S)

    def tick(self) -> int:
        """Create the broadcasts of occurrences starting soon; cancel those no longer planned."""
        now = utcnow()
        with self._sessions() as session:
            snapshot = read_snapshot(session, self._default_tz)
            pending = set(
                session.scalars(
                    select(Broadcast.id).where(
                        Broadcast.schedule.is_not(None),
                        Broadcast.state == BroadcastState.scheduled.value,
                        Broadcast.start_at >= now,
                    )
                )
            )
        created = 0
        wanted = set()
        for play in planned_plays(snapshot, now, now + self._lead, one_offs=False):
            occ = play.occurrence
            assert occ is not None
            for entry in play.entries:
                if entry.media is None or entry.start_at < now:
                    continue  # relays play from the plans
                wanted.add(entry.play_id)
                if self._broadcasts.create_occurrence(
                    entry.play_id,
                    occ.schedule,
                    entry.title,
                    entry.media.sha256,
                    list(occ.targets),
                    entry.start_at,
                    Priority(entry.priority),
                ):
                    created += 1
        for play_id in pending - wanted:
            log.info("schedule occurrence %s no longer planned: cancelled", play_id)
            try:
                self._broadcasts.cancel(play_id)
            except Exception:
                log.exception("cancelling %s", play_id)
        if created:
            log.info("created %d schedule broadcasts", created)
        return created
