"""Alarms raised by agents (mains lost, dead speaker line, door, ...) and their acknowledgement.

A technician's list is the *open* alarms: still active, or cleared but not yet acknowledged.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import utcnow

from ..auth import Principal
from ..db.models import Alarm, Device
from ..domain.device import DeviceStatus
from ..domain.errors import NotFound
from .audit import AuditLog
from .views import AlarmOut

STATES = ("open", "active", "unacknowledged", "all")


OFFLINE = "device_offline"
"""The controller's own alarm: a cluster silent (offline) for longer than the station allows."""
SERVICE_DOWN = "service_down"
"""The station's own alarm (no device): a service the controller runs (the MQTT broker,
Icecast) keeps dying; keyed ``service:<name>``."""


class AlarmService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        audit: AuditLog,
        changed: Callable[[], None] = lambda: None,
    ):
        self._sessions = sessions
        self._audit = audit
        self._changed = changed

    def check_offline(self, after_min: float) -> tuple[int, int]:
        """Raise ``device_offline`` for clusters offline longer than ``after_min`` minutes,
        clear it for those back (a technician hears of a silent pole without watching the
        fleet page). Returns (raised, cleared)."""
        now = utcnow()
        raised = cleared = 0
        with self._sessions.begin() as session:
            devices = list(session.scalars(select(Device).where(Device.retired.is_(False))))
            open_ = {
                a.device_id: a
                for a in session.scalars(
                    select(Alarm).where(Alarm.key == OFFLINE, Alarm.cleared_at.is_(None))
                )
            }
            for d in devices:
                gone = (
                    d.status == DeviceStatus.offline
                    and d.status_at is not None
                    and now - d.status_at > timedelta(minutes=after_min)
                )
                if gone and d.id not in open_:
                    session.add(
                        Alarm(
                            device_id=d.id,
                            key=OFFLINE,
                            code=OFFLINE,
                            raised_at=d.status_at,
                            occurrences=1,
                            detail=f"{after_min:g} min",
                        )
                    )
                    raised += 1
                elif d.status != DeviceStatus.offline and d.id in open_:
                    open_[d.id].cleared_at = d.status_at or now
                    cleared += 1
        if raised or cleared:
            self._changed()
        return raised, cleared

    def service_failing(self, name: str, detail: str) -> None:
        """A supervised child keeps dying: one open alarm per service (a repeat counts up)."""
        self.station_alarm(f"service:{name}", SERVICE_DOWN, f"{name}: {detail}", True, count=True)

    def service_recovered(self, name: str) -> None:
        """It has stayed up: its alarm clears (and leaves the list once acknowledged)."""
        self.station_alarm(f"service:{name}", SERVICE_DOWN, "", False)

    def station_alarm(
        self, key: str, code: str, detail: str, active: bool, count: bool = False
    ) -> bool:
        """The station's own alarm ``key`` (no device) raised while ``active`` — once, its
        detail kept fresh (``count``: each repeat counted) — and cleared when not. Returns
        whether anything changed (the open pages are told)."""
        with self._sessions.begin() as session:
            open_alarm = session.scalars(
                select(Alarm)
                .where(Alarm.device_id.is_(None), Alarm.key == key, Alarm.cleared_at.is_(None))
                .limit(1)
            ).first()
            if active and open_alarm is not None:
                open_alarm.occurrences += 1 if count else 0
                open_alarm.detail = detail[:300]
            elif active:
                session.add(
                    Alarm(
                        device_id=None,
                        key=key,
                        code=code,
                        raised_at=utcnow(),
                        occurrences=1,
                        detail=detail[:300],
                    )
                )
            elif open_alarm is not None:
                open_alarm.cleared_at = utcnow()
            else:
                return False
        self._changed()
        return True

    def list(
        self, device_id: str | None = None, state: str = "open", limit: int = 500
    ) -> list[AlarmOut]:
        """Newest first; ``state`` is one of ``STATES``."""
        with self._sessions() as session:
            query = select(Alarm).order_by(Alarm.raised_at.desc(), Alarm.id.desc())
            if device_id:
                query = query.where(Alarm.device_id == device_id)
            if state == "active":
                query = query.where(Alarm.cleared_at.is_(None))
            elif state == "unacknowledged":
                query = query.where(Alarm.acknowledged_at.is_(None))
            elif state == "open":
                query = query.where(Alarm.is_open())
            return [AlarmOut.model_validate(a) for a in session.scalars(query.limit(limit))]

    def acknowledge(self, who: Principal, alarm_id: int, note: str = "", by: str = "") -> AlarmOut:
        """A technician has seen it; it leaves the open list once it has also cleared.
        ``by`` names the person behind the bootstrap token (a login names itself)."""
        with self._sessions.begin() as session:
            alarm = session.get(Alarm, alarm_id)
            if alarm is None:
                raise NotFound("alarm.not_found", id=alarm_id)
            if alarm.acknowledged_at is None:
                alarm.acknowledged_at = utcnow()
                alarm.acknowledged_by = by if who.is_system and by else who.username
                alarm.ack_note = note
            out = AlarmOut.model_validate(alarm)
        self._audit.record(who, "alarm.ack", f"{out.device_id}:{out.key}", note=note)
        return out
