"""When a broadcast plays: the lead before a "now" start (an emergency's measured from the
fleet), its play window, and the quiet hours it must not fall in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import Priority, utcnow

from ...db.models import Command, Delivery, DeviceZone
from ...domain.errors import Invalid
from ...domain.timing import BroadcastTiming, TimingError, plan_timing
from ...schedules.checks import quiet_at
from ...schedules.model import QuietHours
from ...settings import Settings
from .records import resolve_devices


class BroadcastTimes:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        quiet_hours: Callable[[], list[QuietHours]] = lambda: [],
    ):
        self.settings = settings
        self._sessions = sessions
        self._quiet_hours = quiet_hours  # the site's, as the schedule set holds them

    def emergency_lead(self) -> timedelta:
        """How far ahead an emergency starts: what the fleet's commands take to arrive (p99 of
        the last 500 plays from signing to the device's ack, plus 0.25 s), not the fixed lead
        a normal bulletin's download needs — an emergency's media is already on the devices
        (``PrepareCommand``)."""
        settings = self.settings
        with self._sessions() as session:  # signed → accepted by the device, per delivery
            rows = session.execute(
                select(Command.issued_at, Delivery.acked_at)
                .join(Delivery, Delivery.broadcast_id == Command.broadcast_id)
                .where(Command.type == "play", Delivery.acked_at.is_not(None))
                .order_by(Command.issued_at.desc())
                .limit(500)
            ).all()
        taken = sorted(s for s in ((a - b).total_seconds() for b, a in rows) if s >= 0)
        if not taken:
            return timedelta(
                seconds=min(settings.emergency_lead_unmeasured_s, settings.sync_lead_s)
            )
        p99 = taken[min(len(taken) - 1, int(len(taken) * 0.99))]
        return timedelta(
            seconds=min(settings.sync_lead_s, max(settings.emergency_lead_min_s, p99 + 0.25))
        )

    def lead(self, priority: Priority) -> timedelta:
        """A "now" broadcast's sync lead (an emergency's is measured: one query)."""
        return (
            self.emergency_lead()
            if priority == Priority.emergency
            else timedelta(seconds=self.settings.sync_lead_s)
        )

    def window(
        self, start_at: datetime | None, max_late_s: int | None, lead: timedelta
    ) -> BroadcastTiming:
        """When it is sent, starts and may still start; a past start is refused."""
        max_late = max_late_s if max_late_s is not None else self.settings.default_max_late_s
        try:
            return plan_timing(
                now=utcnow(),
                requested_start=start_at,
                sync_lead=lead,
                prefetch_lead=timedelta(seconds=self.settings.prefetch_lead_s),
                max_late=timedelta(seconds=max_late),
            )
        except TimingError:
            raise Invalid("broadcast.past_time") from None

    def check_quiet(
        self, session: Session, device_ids: list[str], start_at: datetime, priority: Priority
    ) -> None:
        """Refuse a start inside the quiet hours of a zone the devices are in (emergencies
        excepted)."""
        if priority == Priority.emergency:
            return
        quiet_hours = self._quiet_hours()
        if not quiet_hours:
            return
        zones = (
            set(
                session.scalars(
                    select(DeviceZone.zone_id).where(DeviceZone.device_id.in_(device_ids))
                )
            )
            if device_ids
            else set()
        )
        local = start_at.astimezone(ZoneInfo(self.settings.timezone))
        hit = quiet_at(local.replace(tzinfo=None), zones, quiet_hours)
        if hit is not None:
            raise Invalid(
                "broadcast.quiet_hours",
                at=f"{local:%H:%M}",
                start=f"{hit.start:%H:%M}",
                end=f"{hit.end:%H:%M}",
            )

    def quiet_problem(
        self, targets: list[str], start_at: datetime | None, priority: Priority
    ) -> None:
        """The quiet-hours check alone, before a bulletin is made (the send form)."""
        with self._sessions() as session:
            devices = resolve_devices(session, sorted(set(targets)))
            self.check_quiet(session, devices, start_at or utcnow(), priority)
