"""The channel's programme: the broadcasts sent to the loudspeakers, read from the station's
database (the controller's own records of what it sent) as ``AirItem``s.

Read-only and read often (every second): the channel process runs apart from the controller,
so a controller restart leaves it reading the same rows; a database that does not answer
leaves it with the programme it last read."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, noload, sessionmaker

from protocol.messages import PlanEntry, Priority

from ..db.models import AuditEntry, Broadcast, Delivery
from ..domain.broadcast import BroadcastState
from ..domain.delivery import DeliveryState
from ..schedules.planning import planned_plays
from ..schedules.snapshot import read_snapshot
from ..services.broadcasting.records import duration_ms
from ..streams.timeline import RelayTimeline
from .airtime import AirItem, cut_by_stops

log = logging.getLogger(__name__)

ON_AIR_STATES = (
    BroadcastState.scheduled,
    BroadcastState.sending,
    BroadcastState.sent,
    BroadcastState.done,
    BroadcastState.cancelled,  # stopped under way: it played until then
)
NOT_SENT = (DeliveryState.pending, DeliveryState.cancelled)
LOOK_BACK = timedelta(hours=6)  # the longest play (a relay, a live voice) still under way
LOOK_AHEAD = timedelta(minutes=10)
ROUTINE_EVERY = timedelta(seconds=10)  # the schedules change rarely; expanding them costs more
STOP_ACTION = "broadcast.stop"  # the audit's record of a STOP (its targets, comma-separated)


def _item(row: Broadcast, reach: int) -> AirItem | None:
    end_ms = duration_ms(row)
    stopped = row.cancelled_at or row.ended_at
    if stopped is not None:
        end_ms = min(end_ms, int((stopped - row.start_at).total_seconds() * 1000))
    if end_ms <= 0:
        return None
    if row.stream is not None:
        # a relay's station copy (what the loudspeakers play in step), else its stream
        source, stream = row.stream.get("station_url") or row.stream["urls"][0], True
    elif row.media_sha256:
        source, stream = row.media_sha256, False
    else:
        return None
    return AirItem(
        play_id=row.id,
        start=row.start_at,
        duration_s=end_ms / 1000,
        priority=Priority(row.priority),
        reach=reach,
        source=source,
        stream=stream,
        not_after=row.not_after,
    )


def _planned(entry: PlanEntry, reach: int, not_after_s: int) -> AirItem:
    """A routine occurrence as the devices' plans hold it (its relays have no broadcast)."""
    if entry.stream is not None:
        source = entry.stream.station_url or entry.stream.url
        duration_s, stream = float(entry.stream.duration_s), True
    else:
        assert entry.media is not None
        source, duration_s, stream = entry.media.sha256, entry.media.duration_ms / 1000, False
    return AirItem(
        play_id=entry.play_id,
        start=entry.start_at,
        duration_s=duration_s,
        priority=entry.priority,
        reach=reach,
        source=source,
        stream=stream,
        not_after=entry.start_at + timedelta(seconds=not_after_s),
    )


class Programme:
    """The broadcasts around now and the routine's occurrences (as the plans hold them);
    ``read`` refreshes them (keeping the last on failure)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        timezone: str = "Asia/Ho_Chi_Minh",
        relay_timeline: RelayTimeline | None = None,
        max_late_s: int = 120,
    ):
        self._sessions = sessions
        self._timezone = timezone
        self._relay_timeline = relay_timeline
        self._max_late_s = max_late_s
        self._routine: list[AirItem] = []
        self._routine_targets: dict[str, tuple[str, ...]] = {}  # play id -> the plan's targets
        self._routine_read = datetime.min.replace(tzinfo=UTC)
        self.items: list[AirItem] = []
        self.coming: set[str] = set()  # media of broadcasts released and not over
        self.failing = False

    def read(self, now: datetime) -> list[AirItem]:
        try:
            self.items = self._query(now)
            if self.failing:
                log.warning("the database answers again")
            self.failing = False
        except Exception as exc:  # noqa: BLE001 - any database fault: keep the last programme
            if not self.failing:
                log.error("database unreadable, keeping the programme last read: %s", exc)
            self.failing = True
        return self.items

    def _query(self, now: datetime) -> list[AirItem]:
        reach = (
            select(Delivery.broadcast_id, func.count().label("n"))
            .where(Delivery.state.notin_([s.value for s in NOT_SENT]))
            .group_by(Delivery.broadcast_id)
            .subquery()
        )
        with self._sessions() as session:
            rows = session.execute(
                select(Broadcast, reach.c.n)
                .outerjoin(reach, reach.c.broadcast_id == Broadcast.id)
                .where(
                    Broadcast.start_at >= now - LOOK_BACK,
                    Broadcast.start_at < now + LOOK_AHEAD,
                )
                .options(noload(Broadcast.deliveries))  # (counted above; read every second)
            ).all()
            # sent to some device, and not held, rejected or a draft
            on_air = [_item(row, n) for row, n in rows if n and row.state in ON_AIR_STATES]
            # released but not sent yet: its audio can be decoded before it is (a bulletin
            # sent "now" starts a couple of seconds after it is sent)
            self.coming = {
                row.media_sha256
                for row, _n in rows
                if row.media_sha256 and row.state in BroadcastState.awaiting_play()
            }
            if now - self._routine_read >= ROUTINE_EVERY:
                self._routine = self._read_routine(session, now)
                self._routine_read = now
            # a STOP silences what plays on the villages it names (neither a broadcast's row
            # nor a plan says so)
            stops = [
                (ts, target.split(","))
                for ts, target in session.execute(
                    select(AuditEntry.ts, AuditEntry.target).where(
                        AuditEntry.action == STOP_ACTION,
                        AuditEntry.outcome == "ok",
                        AuditEntry.ts >= now - LOOK_BACK,
                    )
                )
            ]
        items = [i for i in on_air if i is not None]
        # a broadcast stands for itself: a fired occurrence (even cancelled) is not taken again
        # from the routine
        fired = {row.id for row, _n in rows}
        routine = [i for i in self._routine if i.play_id not in fired]
        targets = {**self._routine_targets, **{row.id: tuple(row.targets) for row, _n in rows}}
        return cut_by_stops(items + routine, targets, stops)

    def _read_routine(self, session: Session, now: datetime) -> list[AirItem]:
        snapshot = read_snapshot(session, self._timezone, relay_timeline=self._relay_timeline)
        plays = planned_plays(snapshot, now - LOOK_BACK, now + LOOK_AHEAD, one_offs=False)
        self._routine_targets = {
            entry.play_id: tuple(play.targets) for play in plays for entry in play.entries
        }
        return [
            _planned(entry, max(1, len(play.targets)), self._max_late_s)
            for play in plays
            for entry in play.entries
        ]
