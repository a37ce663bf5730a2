"""The station's report for a period (broadcast log, equipment) and the provincial export
API's pages: read from the database, figured by ``controller.reports.figures``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, lazyload, sessionmaker

from protocol.messages import utcnow

from ..db.models import (
    Alarm,
    Broadcast,
    ControllerRun,
    Delivery,
    Device,
    DeviceStatusChange,
    Media,
)
from ..domain.device import DeviceKind
from ..domain.errors import Invalid
from ..domain.outcome import Outcome, outcome
from ..reports.figures import (
    Span,
    controller_down,
    local_days,
    mean_repair_minutes,
    month_bounds,
    seconds,
    success_rate,
    watched_online,
)
from ..reports.models import (
    BroadcastLine,
    ClusterEquipment,
    DayOnline,
    Downtime,
    ExportAlarm,
    ExportBulletin,
    ExportDevice,
    Page,
    ReportTotals,
    StationReport,
    VillageTotals,
)
from ..settings import Settings

_History = tuple[dict[str, str], dict[str, list[tuple[datetime, str]]]]
"""Each device's status at the period's start, and its changes inside it in time order."""

MAX_PERIOD = timedelta(days=400)
"""A report covers at most a year and a bit: the broadcast log of one is already long."""


HEARD = ("heard", "quiet")
"""Verdicts that count as heard: a horn down (quiet) was still heard in the village."""


class Reports:
    def __init__(self, sessions: sessionmaker[Session], settings: Settings):
        self._sessions = sessions
        self._settings = settings

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self._settings.timezone)

    def month(self, month: str | None = None) -> tuple[datetime, datetime, str]:
        """``YYYY-MM`` (default: this month, so far) → its bounds, label."""
        if month is None:
            today = utcnow().astimezone(self.zone).date()
            month = f"{today.year:04d}-{today.month:02d}"
        try:
            start, end = month_bounds(month, self.zone)
        except ValueError:
            raise Invalid("report.bad_month", month=month) from None
        return start, end, f"{start.month:02d}/{start.year}"

    def period(self, start: datetime, end: datetime) -> tuple[datetime, datetime]:
        """Checked bounds (aware, in order, at most ``MAX_PERIOD``); naive ones are local."""
        if start.tzinfo is None:
            start = start.replace(tzinfo=self.zone)
        if end.tzinfo is None:
            end = end.replace(tzinfo=self.zone)
        if not (1970 <= start.year <= 2200 and 1970 <= end.year <= 2200):
            raise Invalid("report.bad_period")  # (and no overflow turning year 1 into UTC)
        if end <= start:
            raise Invalid("report.bad_period")
        if end - start > MAX_PERIOD:
            raise Invalid("report.too_long")
        return start, end

    # --- the station report -----------------------------------------------------------------

    def station(self, start: datetime, end: datetime, label: str = "") -> StationReport:
        start, end = self.period(start, end)
        zone = self.zone
        now = utcnow()
        until = max(start, min(end, now))  # nothing is counted for time still to come
        with self._sessions() as session:
            devices = list(session.scalars(select(Device).order_by(Device.id)))
            lines, by_broadcast = self._lines(session, devices, start, end)
            history = self._status_history(session, start, until)
            down = self._controller_down(session, start, until)
            repairs = self._repairs(session, start, end)
            clusters = self._equipment(session, devices, history, down, repairs, start, until)
            days = self._days(devices, history, down, start, end, until)
            alarms_raised = sum(c.alarms_raised for c in clusters)
            alarms_cleared = sum(c.alarms_cleared for c in clusters)
        villages = self._villages(devices, lines)
        played = [line for line in lines if line.outcome is Outcome.played]
        online = [c.online_ratio for c in clusters if c.online_ratio is not None]
        totals = ReportTotals(
            bulletins=len(by_broadcast),
            deliveries=len(lines),
            played=len(played),
            heard=sum(line.heard in HEARD for line in lines),
            homes=sum(line.receiver for line in played),
            homes_off=sum(
                line.receiver and (line.reason or "").startswith("household_off") for line in lines
            ),
            minutes_on_air=round(
                sum(max(line.duration_s for line in group) for group in by_broadcast.values()) / 60,
                1,
            ),
            success_rate=success_rate(line.outcome for line in lines),
            online_ratio=sum(online) / len(online) if online else None,
            alarms_raised=alarms_raised,
            alarms_cleared=alarms_cleared,
            mean_repair_min=mean_repair_minutes(r for rs in repairs.values() for r in rs),
            controller_down_min=round(seconds(down) / 60, 1),
        )
        return StationReport(
            station=self._settings.station_name,
            period_start=start.astimezone(zone),
            period_end=end.astimezone(zone),
            timezone=self._settings.timezone,
            last_day=(end - timedelta(microseconds=1)).astimezone(zone).date(),
            label=label
            or f"{start.astimezone(zone):%d/%m/%Y} – "
            f"{(end - timedelta(seconds=1)).astimezone(zone):%d/%m/%Y}",
            generated_at=now.astimezone(zone),
            counted_until=until.astimezone(zone),
            totals=totals,
            controller_down=[
                Downtime(
                    start=lo.astimezone(zone),
                    end=hi.astimezone(zone),
                    minutes=round((hi - lo).total_seconds() / 60, 1),
                )
                for lo, hi in down
            ],
            villages=villages,
            clusters=clusters,
            days=days,
            lines=lines,
        )

    def _lines(
        self,
        session: Session,
        devices: Sequence[Device],
        start: datetime,
        end: datetime,
        broadcast_ids: Sequence[str] | None = None,
    ) -> tuple[list[BroadcastLine], dict[str, list[BroadcastLine]]]:
        """Every delivery of the broadcasts sent for a start in the period, in start order."""
        names = {d.id: (d.name, [z.name for z in d.zones]) for d in devices}
        receivers = {d.id for d in devices if d.kind is DeviceKind.receiver}
        # plain columns, not entities: a broadcast entity would load all its deliveries again
        query = (
            select(
                Delivery.broadcast_id,
                Delivery.device_id,
                Delivery.state,
                Delivery.line_check,
                Delivery.hearing,
                Delivery.started_at,
                Delivery.ended_at,
                Delivery.played_ms,
                Delivery.reason,
                Broadcast.title,
                Broadcast.priority,
                Broadcast.start_at,
                Broadcast.ended_at,
                Media.duration_ms,
            )
            .join(Broadcast, Delivery.broadcast_id == Broadcast.id)
            .outerjoin(Media, Broadcast.media_sha256 == Media.sha256)
            .order_by(Broadcast.start_at, Broadcast.id, Delivery.device_id)
        )
        if broadcast_ids is None:
            query = query.where(
                Broadcast.start_at >= start,
                Broadcast.start_at < end,
                Broadcast.sent_at.is_not(None),
            )
        else:
            query = query.where(Broadcast.id.in_(broadcast_ids))
        zone = self.zone
        lines: list[BroadcastLine] = []
        by_broadcast: dict[str, list[BroadcastLine]] = defaultdict(list)
        for (
            bid,
            device_id,
            state,
            line_check,
            hearing,
            started,
            ended,
            played_ms,
            reason,
            title,
            priority,
            start_at,
            b_ended,
            duration_ms,
        ) in session.execute(query):
            cluster, villages = names.get(device_id, (device_id, []))
            line = BroadcastLine(
                broadcast_id=bid,
                title=title,
                priority=priority,
                device_id=device_id,
                cluster=cluster,
                villages=villages,
                planned_start=start_at.astimezone(zone),
                planned_end=_planned_end(start_at, duration_ms, b_ended, zone),
                actual_start=_local(started, zone),
                actual_end=_local(ended, zone),
                duration_s=round((played_ms or 0) / 1000, 1),
                outcome=outcome(state, line_check),
                reason=reason,
                heard=(hearing or {}).get("verdict"),
                receiver=device_id in receivers,
            )
            lines.append(line)
            by_broadcast[bid].append(line)
        return lines, by_broadcast

    def _villages(
        self, devices: Sequence[Device], lines: Sequence[BroadcastLine]
    ) -> list[VillageTotals]:
        """Per village, over its clusters' deliveries (a cluster in two villages counts in
        both)."""
        zones_of = {d.id: [(z.id, z.name) for z in d.zones] for d in devices}
        grouped: dict[tuple[str, str], list[BroadcastLine]] = defaultdict(list)
        for line in lines:
            for zone in zones_of.get(line.device_id, []):
                grouped[zone].append(line)
        out = []
        for (zone_id, name), group in sorted(grouped.items(), key=lambda kv: kv[0][1]):
            longest: dict[str, float] = defaultdict(float)
            for line in group:
                longest[line.broadcast_id] = max(longest[line.broadcast_id], line.duration_s)
            count = defaultdict(int, {o: sum(line.outcome is o for line in group) for o in Outcome})
            out.append(
                VillageTotals(
                    zone_id=zone_id,
                    village=name,
                    bulletins=len(longest),
                    deliveries=len(group),
                    played=count[Outcome.played],
                    heard=sum(line.heard in HEARD for line in group),
                    fault=count[Outcome.fault],
                    interrupted=count[Outcome.interrupted],
                    missed=count[Outcome.missed],
                    failed=count[Outcome.failed],
                    minutes_on_air=round(sum(longest.values()) / 60, 1),
                    success_rate=success_rate(line.outcome for line in group),
                )
            )
        return out

    def _status_history(self, session: Session, start: datetime, end: datetime) -> _History:
        """Each device's status at ``start`` and its changes inside the period."""
        newest = (
            select(func.max(DeviceStatusChange.id))
            .where(DeviceStatusChange.at < start)
            .group_by(DeviceStatusChange.device_id)
            .scalar_subquery()
        )
        before = {
            device_id: status
            for device_id, status in session.execute(
                select(DeviceStatusChange.device_id, DeviceStatusChange.status).where(
                    DeviceStatusChange.id.in_(newest)
                )
            )
        }
        changes: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
        for row in session.scalars(
            select(DeviceStatusChange)
            .where(DeviceStatusChange.at >= start, DeviceStatusChange.at < end)
            .order_by(DeviceStatusChange.at, DeviceStatusChange.id)
        ):
            changes[row.device_id].append((row.at, row.status))
        return before, changes

    def _equipment(
        self,
        session: Session,
        devices: Sequence[Device],
        history: _History,
        down: list[Span],
        repairs: dict[str, list[tuple[datetime, datetime]]],
        start: datetime,
        end: datetime,
    ) -> list[ClusterEquipment]:
        """Per cluster over ``[start, end)`` (end: now at the latest), counting only the time
        the controller was watching (``down`` is when it was not)."""
        before, changes = history
        raised = dict(
            session.execute(
                select(Alarm.device_id, func.count())
                .where(Alarm.raised_at >= start, Alarm.raised_at < end)
                .group_by(Alarm.device_id)
            ).all()
        )
        cleared = dict(
            session.execute(
                select(Alarm.device_id, func.count())
                .where(Alarm.cleared_at >= start, Alarm.cleared_at < end)
                .group_by(Alarm.device_id)
            ).all()
        )
        out = []
        for d in devices:
            if d.retired and d.id not in changes and d.id not in raised:
                continue
            since = max(start, d.created_at)
            watched, online = watched_online(
                changes.get(d.id, []), before.get(d.id), since, end, down
            )
            out.append(
                ClusterEquipment(
                    device_id=d.id,
                    cluster=d.name,
                    villages=[z.name for z in d.zones],
                    status_now=d.status,
                    online_hours=round(online / 3600, 2),
                    offline_min=round((watched - online) / 60, 1),
                    online_ratio=online / watched if watched > 0 else None,
                    alarms_raised=int(raised.get(d.id, 0)),
                    alarms_cleared=int(cleared.get(d.id, 0)),
                    mean_repair_min=mean_repair_minutes(repairs.get(d.id, [])),
                )
            )
        return out

    def _days(
        self,
        devices: Sequence[Device],
        history: _History,
        down: list[Span],
        start: datetime,
        end: datetime,
        until: datetime,
    ) -> list[DayOnline]:
        """The fleet's online ratio each local day of the period: the clusters' mean over
        the watched part of the day up to ``until``; None for a day not watched or to come."""
        before, changes = history
        days = local_days(start, end, self.zone)
        ratios: list[list[float]] = [[] for _ in days]
        for d in devices:
            if d.retired:
                continue
            seq = changes.get(d.id, [])
            held, i = before.get(d.id), 0
            for n, (_, lo, hi) in enumerate(days):
                while i < len(seq) and seq[i][0] < lo:
                    held, i = seq[i][1], i + 1
                since, hi = max(lo, d.created_at), min(hi, until)
                inside = [change for change in seq[i:] if change[0] < hi]
                watched, online = watched_online(inside, held, since, hi, down)
                if watched > 0:
                    ratios[n].append(online / watched)
        return [
            DayOnline(day=day, online_ratio=sum(r) / len(r) if r else None)
            for (day, _, _), r in zip(days, ratios, strict=True)
        ]

    def _controller_down(self, session: Session, start: datetime, end: datetime) -> list[Span]:
        """When no controller watched the fleet inside ``[start, end)``: the gaps between
        the runs on record (the one before the period too, so a gap across its start counts)."""
        first = session.scalar(
            select(func.max(ControllerRun.alive_at)).where(ControllerRun.alive_at < start)
        )
        runs = [
            (lo, hi)
            for lo, hi in session.execute(
                select(ControllerRun.started_at, ControllerRun.alive_at).where(
                    ControllerRun.alive_at >= (first or start)
                )
            )
        ]
        return controller_down(runs, start, end)

    def _repairs(
        self, session: Session, start: datetime, end: datetime
    ) -> dict[str, list[tuple[datetime, datetime]]]:
        """Per device, (raised, cleared) of the alarms that cleared in the period."""
        out: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
        for device_id, raised, cleared in session.execute(
            select(Alarm.device_id, Alarm.raised_at, Alarm.cleared_at).where(
                Alarm.cleared_at >= start, Alarm.cleared_at < end
            )
        ):
            if cleared is not None:  # (the condition says so; the type does not know it)
                out[device_id].append((raised, cleared))
        return out

    # --- the provincial export API ----------------------------------------------------------

    def export_bulletins(
        self, start: datetime, end: datetime, offset: int, limit: int
    ) -> Page[ExportBulletin]:
        """Broadcasts sent for a start in the period, oldest first, with their outcomes."""
        start, end = self.period(start, end)
        where = (
            Broadcast.start_at >= start,
            Broadcast.start_at < end,
            Broadcast.sent_at.is_not(None),
        )
        zone = self.zone
        with self._sessions() as session:
            total = session.scalar(select(func.count()).select_from(Broadcast).where(*where)) or 0
            rows = list(
                session.scalars(
                    select(Broadcast)
                    .where(*where)
                    .options(lazyload(Broadcast.deliveries))
                    .order_by(Broadcast.start_at, Broadcast.id)
                    .offset(offset)
                    .limit(limit)
                )
            )
            devices = list(session.scalars(select(Device)))
            lines, by_broadcast = self._lines(session, devices, start, end, [b.id for b in rows])
            items = []
            for b in rows:
                group = by_broadcast.get(b.id, [])
                outcomes: dict[str, int] = defaultdict(int)
                for line in group:
                    outcomes[line.outcome.value] += 1
                items.append(
                    ExportBulletin(
                        id=b.id,
                        title=b.title,
                        priority=b.priority,
                        state=b.state,
                        start_at=b.start_at.astimezone(zone),
                        planned_end=_planned_end(
                            b.start_at, b.media.duration_ms if b.media else None, b.ended_at, zone
                        ),
                        targets=list(b.targets),
                        created_by=b.created_by,
                        approved_by=b.approved_by,
                        outcomes=dict(outcomes),
                        deliveries=group,
                    )
                )
        return _page(items, total, offset, limit)

    def export_devices(self, offset: int, limit: int) -> Page[ExportDevice]:
        """Every cluster's status now, with its open alarms."""
        zone = self.zone
        with self._sessions() as session:
            total = session.scalar(select(func.count()).select_from(Device)) or 0
            open_ = dict(
                session.execute(
                    select(Alarm.device_id, func.count())
                    .where(Alarm.cleared_at.is_(None))
                    .group_by(Alarm.device_id)
                ).all()
            )
            items = [
                ExportDevice(
                    id=d.id,
                    name=d.name,
                    villages=[z.name for z in d.zones],
                    status=d.status,
                    status_at=_local(d.status_at, zone),
                    last_seen_at=_local(d.last_seen_at, zone),
                    version=d.version,
                    retired=d.retired,
                    open_alarms=int(open_.get(d.id, 0)),
                )
                for d in session.scalars(
                    select(Device).order_by(Device.id).offset(offset).limit(limit)
                )
            ]
        return _page(items, total, offset, limit)

    def export_alarms(
        self, start: datetime, end: datetime, offset: int, limit: int
    ) -> Page[ExportAlarm]:
        """Alarms raised in the period, oldest first."""
        start, end = self.period(start, end)
        where = (Alarm.raised_at >= start, Alarm.raised_at < end)
        zone = self.zone
        with self._sessions() as session:
            total = session.scalar(select(func.count()).select_from(Alarm).where(*where)) or 0
            items = [
                ExportAlarm(
                    id=a.id,
                    device_id=a.device_id,
                    code=a.code,
                    channel=a.channel,
                    raised_at=a.raised_at.astimezone(zone),
                    cleared_at=_local(a.cleared_at, zone),
                    acknowledged_at=_local(a.acknowledged_at, zone),
                    acknowledged_by=a.acknowledged_by,
                    detail=a.detail,
                    occurrences=a.occurrences,
                )
                for a in session.scalars(
                    select(Alarm)
                    .where(*where)
                    .order_by(Alarm.raised_at, Alarm.id)
                    .offset(offset)
                    .limit(limit)
                )
            ]
        return _page(items, total, offset, limit)


def _page(items: list[Any], total: int, offset: int, limit: int) -> Page[Any]:
    after = offset + len(items)
    return Page(
        total=total,
        offset=offset,
        limit=limit,
        next_offset=after if after < total else None,
        items=items,
    )


def _local(at: datetime | None, zone: ZoneInfo) -> datetime | None:
    return at.astimezone(zone) if at is not None else None


def _planned_end(
    start_at: datetime, duration_ms: int | None, ended_at: datetime | None, zone: ZoneInfo
) -> datetime | None:
    """Start + the audio's length; a stream (live, relay) has only the end it had."""
    if duration_ms is None:
        return _local(ended_at, zone)
    return (start_at + timedelta(milliseconds=duration_ms)).astimezone(zone)
