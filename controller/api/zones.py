"""Zones: the villages (thôn, bản) devices are grouped in."""

from __future__ import annotations

from fastapi import APIRouter

from ..auth import Principal
from ..http import ServicesDep, allow
from ..services.views import ZoneOut
from .schemas import ZoneIn, ZoneRenameIn

router = APIRouter(prefix="/api/zones", tags=["zones"])


@router.post("", status_code=201, response_model=ZoneOut)
def create_zone(body: ZoneIn, svc: ServicesDep, who: Principal = allow("zone.manage")) -> ZoneOut:
    return svc.zones.create(who, body.id, body.name, body.geocodes)


@router.get("", response_model=list[ZoneOut], dependencies=[allow("zone.read")])
def list_zones(svc: ServicesDep) -> list[ZoneOut]:
    return svc.zones.list()


@router.patch("/{zone_id}", response_model=ZoneOut)
def rename_zone(
    zone_id: str, body: ZoneRenameIn, svc: ServicesDep, who: Principal = allow("zone.manage")
) -> ZoneOut:
    """A zone's name is what broadcasters read; its id (in schedules and targets) stays.
    ``geocodes``: what CAP alerts call it; ``languages``: what its people hear, in order."""
    out = svc.zones.rename(who, zone_id, body.name) if body.name is not None else None
    if body.geocodes is not None:
        out = svc.zones.set_geocodes(who, zone_id, body.geocodes)
    if body.languages is not None:
        out = svc.zones.set_languages(who, zone_id, body.languages)
    return out or svc.zones.get(zone_id)
