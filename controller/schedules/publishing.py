"""Plan publishing: every device's signed plan for the next 48 h, retained on its plan topic.

Runs at start, after a change (schedules, devices, zones, one-off broadcasts) and every few
minutes as the window slides. A plan is republished only when what it holds changed; the
signed bytes are kept (``device_plans``) so ``RetainedKeeper`` can re-assert them unchanged
whenever the broker lost or replaced them.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, defer, sessionmaker

from protocol import topics
from protocol.messages import PlanCommand, utcnow

from ..db.models import DevicePlan, ScheduledPlay
from ..fleet.commands import CommandPath, RetainedMessage, SentCommand
from ..fleet.retained import RetainedSource
from ..streams.timeline import RelayTimeline
from .planning import PlannedPlay, build_plans, plan_version, planned_plays
from .snapshot import read_snapshot

log = logging.getLogger(__name__)

PLAN_WINDOW = timedelta(hours=48)


class PlanPublisher:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        commands: CommandPath,
        default_timezone: str,
        max_late_s: int,
        relay_timeline: RelayTimeline | None = None,
    ):
        self._relay_timeline = relay_timeline  # relays through the station's copy
        self._sessions = sessions
        self._commands = commands
        self._default_tz = default_timezone
        self._max_late_s = max_late_s
        self._lock = threading.Lock()

    def publish_changed(self, every: bool = False) -> int:
        """Sign, record and publish the plans that differ from what each device holds
        (``every``: all of them, e.g. once a new key signs)."""
        with self._lock:
            now = utcnow()
            end = now + PLAN_WINDOW
            with self._sessions() as session:
                snapshot = read_snapshot(
                    session,
                    self._default_tz,
                    start=now,
                    end=end,
                    relay_timeline=self._relay_timeline,
                )
                # the versions only: the rows hold each plan's signed bytes (60 MB for 5,000)
                held = {
                    d: v
                    for d, v in session.execute(select(DevicePlan.device_id, DevicePlan.version))
                }
            plans = build_plans(snapshot, now, end, self._max_late_s)
            self._record_scheduled(planned_plays(snapshot, now, end, one_offs=False))
            messages = []
            for device_id, plan in plans.items():
                if held.get(device_id) == plan.version and not every:
                    continue
                target = f"device:{device_id}"

                def record(
                    session: Session,
                    sent: SentCommand,
                    device_id: str = device_id,
                    version: str = plan.version,
                    count: int = len(plan.entries),
                ) -> None:
                    _record_plan(session, device_id, version, count, end, sent)

                messages.append(
                    RetainedMessage(
                        target,
                        topics.device_topic(device_id, "plan"),
                        plan,
                        end,
                        f"plan|{target}",
                        record,
                    )
                )
            self._commands.send_retained_many(messages, prefetch=_load_plan_rows)
            if messages:
                log.info("published %d changed plans", len(messages))
            return len(messages)

    def _record_scheduled(self, plays: list[PlannedPlay]) -> None:
        """Keep each schedule play as first planned (new ones only): the record a device's
        report of it is checked against, even after the schedule changed."""
        rows = {}
        late = timedelta(seconds=self._max_late_s)
        for play in plays:
            for entry in play.entries:
                length = (
                    timedelta(milliseconds=entry.media.duration_ms)
                    if entry.media
                    else timedelta(seconds=entry.stream.duration_s)
                    if entry.stream
                    else timedelta(0)
                )
                rows[entry.play_id] = dict(
                    play_id=entry.play_id,
                    start_at=entry.start_at,
                    latest_start=entry.start_at + late,
                    ends_by=entry.start_at + length,
                    duration_ms=entry.media.duration_ms if entry.media else None,
                    targets=list(play.targets),
                    planned_at=utcnow(),
                )
        if not rows:
            return
        with self._sessions.begin() as session:
            known = set(
                session.scalars(
                    select(ScheduledPlay.play_id).where(ScheduledPlay.play_id.in_(rows))
                )
            )
            fresh = [row for play_id, row in rows.items() if play_id not in known]
            if fresh:
                session.execute(insert(ScheduledPlay), fresh)

    def prune_scheduled(self, keep: timedelta) -> int:
        """Forget the plays that ended longer ago than ``keep`` (reports that old are
        refused as about plays never sent)."""
        with self._sessions.begin() as session:
            done = session.execute(
                delete(ScheduledPlay).where(ScheduledPlay.ends_by < utcnow() - keep)
            )
        return int(done.rowcount or 0)  # type: ignore[attr-defined]

    def publish_empty(self, device_id: str) -> SentCommand:
        """An empty plan for a device leaving service: a Pi still on its pole drops what its
        plan on disk holds (the planner only plans for active devices)."""
        with self._lock:
            now = utcnow()
            end = now + PLAN_WINDOW
            plan = PlanCommand(
                version=plan_version([]),
                window_start=now,
                window_end=end,
                max_late_s=self._max_late_s,
                entries=[],
            )
            target = f"device:{device_id}"

            def record(session: Session, sent: SentCommand) -> None:
                _record_plan(session, device_id, plan.version, 0, end, sent)

            return self._commands.send_retained(
                target,
                topics.device_topic(device_id, "plan"),
                plan,
                not_after=end,
                seq_key=f"plan|{target}",
                record=record,
            )

    def retained_source(self) -> RetainedSource:
        """What the plan topics must hold, for the keeper."""

        def digests(only: Collection[str] | None) -> dict[str, str]:
            query = select(DevicePlan.device_id, DevicePlan.data_sha256).where(
                DevicePlan.data_sha256.is_not(None)
            )
            if only is not None:
                ids = {p.device_id for t in only if (p := topics.parse_device_topic(t))}
                if not ids:
                    return {}
                query = query.where(DevicePlan.device_id.in_(ids))
            with self._sessions() as session:
                rows = session.execute(query).all()
            return {topics.device_topic(d, "plan"): sha for d, sha in rows if sha}

        def payload(topic: str) -> bytes | None:
            parsed = topics.parse_device_topic(topic)
            if parsed is None:
                return None
            with self._sessions() as session:
                row = session.get(DevicePlan, parsed.device_id)
                return row.data if row is not None else None

        return RetainedSource(digests, payload)


def _load_plan_rows(session: Session, part: list[RetainedMessage]) -> None:
    """The plan rows a chunk replaces, in one query (``_record_plan`` then finds them, or
    knows there is none, without one query each)."""
    ids = [m.target.partition(":")[2] for m in part]
    session.info["plan_rows"] = {
        row.device_id: row
        for row in session.scalars(
            select(DevicePlan).where(DevicePlan.device_id.in_(ids)).options(defer(DevicePlan.data))
        )
    }  # replaced, never read: 12 KiB a row not fetched


def _record_plan(
    session: Session, device_id: str, version: str, count: int, end: datetime, sent: SentCommand
) -> None:
    prefetched = session.info.get("plan_rows")
    row = (
        prefetched.get(device_id) if prefetched is not None else session.get(DevicePlan, device_id)
    )
    stamp = utcnow()
    sha = hashlib.sha256(sent.data).hexdigest()
    if row is None:
        session.add(
            DevicePlan(
                device_id=device_id,
                version=version,
                cmd_id=sent.cmd_id,
                entries=count,
                window_end=end,
                published_at=stamp,
                data=sent.data,
                data_sha256=sha,
            )
        )
    else:
        row.version, row.cmd_id, row.entries = version, sent.cmd_id, count
        row.window_end, row.published_at = end, stamp
        row.data, row.data_sha256 = sent.data, sha
