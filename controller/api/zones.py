"""Zones: the villages (thôn, bản) devices are grouped in."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import func, select

from ..db.models import DeviceZone, Zone
from ..errors import ApiError
from .deps import Principal, ServicesDep, allow, audit
from .schemas import ZoneIn, ZoneOut, ZoneRenameIn

router = APIRouter(prefix="/api/zones", tags=["zones"])


@router.post("", status_code=201, response_model=ZoneOut)
def create_zone(body: ZoneIn, svc: ServicesDep, who: Principal = allow("zone.manage")) -> ZoneOut:
    with svc.sessions.begin() as session:
        if session.get(Zone, body.id) is not None:
            raise ApiError(409, "zone.exists", id=body.id)
        zone = Zone(id=body.id, name=body.name)
        session.add(zone)
        session.flush()
    audit(svc, who, "zone.create", body.id, name=body.name)
    return ZoneOut(id=body.id, name=body.name, device_count=0)


@router.get("", response_model=list[ZoneOut], dependencies=[allow("zone.read")])
def list_zones(svc: ServicesDep) -> list[ZoneOut]:
    with svc.sessions() as session:
        counts = dict(session.execute(
            select(DeviceZone.zone_id, func.count()).group_by(DeviceZone.zone_id)).all())
        zones = session.scalars(select(Zone).order_by(Zone.id)).all()
        return [ZoneOut(id=z.id, name=z.name, device_count=counts.get(z.id, 0)) for z in zones]


@router.patch("/{zone_id}", response_model=ZoneOut)
def rename_zone(zone_id: str, body: ZoneRenameIn, svc: ServicesDep,
                who: Principal = allow("zone.manage")) -> ZoneOut:
    """A zone's name is what broadcasters read; its id (in schedules and targets) stays."""
    with svc.sessions.begin() as session:
        zone = session.get(Zone, zone_id)
        if zone is None:
            raise ApiError(404, "zone.not_found", id=zone_id)
        old, zone.name = zone.name, body.name
        count = session.scalar(select(func.count()).where(DeviceZone.zone_id == zone_id)) or 0
    audit(svc, who, "zone.rename", zone_id, old=old, name=body.name)
    return ZoneOut(id=zone_id, name=body.name, device_count=count)
