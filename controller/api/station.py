"""The station's own settings (admin): a home receiver's emergency floor, whether bulletins
are public by default and anyone may hear the channel, the archive's retention. Audited."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from ..auth import Principal
from ..http import ServicesDep, allow
from ..services.station import StationSettings

router = APIRouter(prefix="/api/station", tags=["station"])


class StationSettingsIn(BaseModel):
    """The settings to change (the others stay)."""

    model_config = ConfigDict(extra="forbid")
    receiver_floor: int | None = Field(None, ge=0, le=100, strict=True)
    public_by_default: bool | None = Field(None, strict=True)
    public_listening: bool | None = Field(None, strict=True)
    archive_months: int | None = Field(None, ge=1, le=120, strict=True)


@router.get("", response_model=StationSettings, dependencies=[allow("broadcast.read")])
def station_settings(svc: ServicesDep) -> StationSettings:
    return svc.station.get()


@router.patch("", response_model=StationSettings)
def change_station_settings(
    body: StationSettingsIn, svc: ServicesDep, who: Principal = allow("station.settings")
) -> StationSettings:
    """Change some settings; each change is in the audit log with its value before."""
    return svc.station.change(who, **body.model_dump(exclude_none=True))
