"""Zones: the villages (thôn, bản) devices are grouped in."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ..auth import Principal
from ..db.models import DeviceZone, Zone
from ..domain.errors import Conflict, Invalid, NotFound
from ..domain.text import code_from_name
from ..media.tts.engines import LANGUAGES
from .audit import AuditLog
from .views import ZoneOut


class ZoneService:
    def __init__(self, sessions: sessionmaker[Session], audit: AuditLog):
        self._sessions = sessions
        self._audit = audit

    def create(
        self, who: Principal, zone_id: str | None, name: str, geocodes: list[str] | None = None
    ) -> ZoneOut:
        """A new village; its code made from its name unless one is given."""
        with self._sessions.begin() as session:
            if zone_id is None:
                zone_id = code_from_name(name, set(session.scalars(select(Zone.id))))
            if session.get(Zone, zone_id) is not None:
                raise Conflict("zone.exists", id=zone_id)
            session.add(Zone(id=zone_id, name=name, geocodes=list(geocodes or [])))
        self._audit.record(who, "zone.create", zone_id, name=name, geocodes=geocodes or [])
        return ZoneOut(id=zone_id, name=name, device_count=0, geocodes=list(geocodes or []))

    def get(self, zone_id: str) -> ZoneOut:
        for zone in self.list():
            if zone.id == zone_id:
                return zone
        raise NotFound("zone.not_found", id=zone_id)

    def set_geocodes(self, who: Principal, zone_id: str, geocodes: list[str]) -> ZoneOut:
        """What warning centres call the village in a CAP alert's area."""
        with self._sessions.begin() as session:
            zone = session.get(Zone, zone_id)
            if zone is None:
                raise NotFound("zone.not_found", id=zone_id)
            zone.geocodes = list(dict.fromkeys(geocodes))
        self._audit.record(who, "zone.geocodes", zone_id, geocodes=geocodes)
        return self.get(zone_id)

    def set_languages(self, who: Principal, zone_id: str, languages: list[str]) -> ZoneOut:
        """The languages a village hears, in the order a bulletin's versions are played."""
        wanted = list(dict.fromkeys(languages))
        unknown = [code for code in wanted if code not in LANGUAGES]
        if unknown or not wanted:
            raise Invalid("speech.unknown_language", language=(unknown or ["-"])[0][:20])
        with self._sessions.begin() as session:
            zone = session.get(Zone, zone_id)
            if zone is None:
                raise NotFound("zone.not_found", id=zone_id)
            zone.languages = wanted
        self._audit.record(who, "zone.languages", zone_id, languages=wanted)
        return self.get(zone_id)

    def languages(self) -> dict[str, list[str]]:
        """zone id → the languages its people hear, in order."""
        with self._sessions() as session:
            return {
                zone_id: list(langs or ["vi"])
                for zone_id, langs in session.execute(select(Zone.id, Zone.languages))
            }

    def list(self) -> list[ZoneOut]:
        """Every zone with how many devices it holds."""
        with self._sessions() as session:
            counts = dict(
                session.execute(
                    select(DeviceZone.zone_id, func.count()).group_by(DeviceZone.zone_id)
                ).all()
            )
            zones = session.scalars(select(Zone).order_by(Zone.id)).all()
            return [
                ZoneOut(
                    id=z.id,
                    name=z.name,
                    device_count=counts.get(z.id, 0),
                    geocodes=list(z.geocodes or []),
                    languages=list(z.languages or ["vi"]),
                )
                for z in zones
            ]

    def names(self) -> dict[str, str]:
        """zone id → its name, in id order (what broadcasters read)."""
        with self._sessions() as session:
            return dict(session.execute(select(Zone.id, Zone.name).order_by(Zone.id)).all())  # type: ignore[arg-type]

    def rename(self, who: Principal, zone_id: str, name: str) -> ZoneOut:
        """A zone's name is what broadcasters read; its id (in schedules and targets) stays."""
        with self._sessions.begin() as session:
            zone = session.get(Zone, zone_id)
            if zone is None:
                raise NotFound("zone.not_found", id=zone_id)
            old, zone.name = zone.name, name
            count = session.scalar(select(func.count()).where(DeviceZone.zone_id == zone_id))
        self._audit.record(who, "zone.rename", zone_id, old=old, name=name)
        return ZoneOut(
            id=zone_id,
            name=name,
            device_count=count or 0,
            geocodes=list(zone.geocodes or []),
            languages=list(zone.languages or ["vi"]),
        )
