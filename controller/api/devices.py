"""Devices: register (returns the agent's config file), list with live status, change settings."""

from __future__ import annotations

from fastapi import APIRouter, Query

from ..auth import Principal
from ..domain.device import DeviceStatus
from ..http import ServicesDep, allow
from ..services.views import DeviceOut, DeviceRegistered
from .schemas import CalibrateIn, DeviceIn, DeviceZonesIn, LocationIn, PhoneIn, VolumeIn

router = APIRouter(prefix="/api/devices", tags=["devices"])


@router.post("", status_code=201, response_model=DeviceRegistered)
def register_device(
    body: DeviceIn, svc: ServicesDep, who: Principal = allow("device.manage")
) -> DeviceRegistered:
    """Register a device; the response holds its token (shown once) and its config file."""
    return svc.devices.register(
        who,
        body.id,
        body.name,
        list(body.zones),
        body.output,
        body.latitude,
        body.longitude,
        body.kind,
    )


@router.get("", response_model=list[DeviceOut], dependencies=[allow("device.read")])
def list_devices(
    svc: ServicesDep,
    zone: str | None = None,
    status: DeviceStatus | None = None,
    offset: int = Query(0, ge=0, le=10_000_000),
    limit: int | None = Query(
        None, ge=1, le=5000, description="at most this many, by id from ``offset`` (absent: all)"
    ),
) -> list[DeviceOut]:
    """Devices by id, with their live status and last health report."""
    return svc.devices.list(zone, status, offset=offset, limit=limit)


@router.get("/{device_id}", response_model=DeviceOut, dependencies=[allow("device.read")])
def get_device(device_id: str, svc: ServicesDep) -> DeviceOut:
    return svc.devices.get(device_id)


@router.put("/{device_id}/zones", response_model=DeviceOut)
def set_device_zones(
    device_id: str, body: DeviceZonesIn, svc: ServicesDep, who: Principal = allow("device.control")
) -> DeviceOut:
    """Change a device's zones and tell the agent (signed ``set_zones``) to resubscribe; if
    the broker is down the command waits (``commands_pending``)."""
    return svc.devices.set_zones(who, device_id, list(body.zones))


@router.put("/{device_id}/volume", response_model=DeviceOut)
def set_device_volume(
    device_id: str, body: VolumeIn, svc: ServicesDep, who: Principal = allow("device.control")
) -> DeviceOut:
    """The device's own volume (a signed ``set_volume``; the agent keeps it across restarts)."""
    return svc.devices.set_volume(who, device_id, body.level)


@router.post("/{device_id}/calibrate-hearing", response_model=DeviceOut)
def calibrate_device_hearing(
    device_id: str,
    svc: ServicesDep,
    body: CalibrateIn | None = None,
    who: Principal = allow("device.control"),
) -> DeviceOut:
    """Play the calibration chime on the cluster (a signed ``calibrate_hearing``) and keep what
    its microphone hears as the usual level; the result comes back as ``hearing.calibration``."""
    return svc.devices.calibrate_hearing(who, device_id, body.volume if body else None)


@router.put("/{device_id}/location", response_model=DeviceOut)
def set_device_location(
    device_id: str, body: LocationIn, svc: ServicesDep, who: Principal = allow("device.control")
) -> DeviceOut:
    """Where the cluster stands (WGS 84), for the technician's map."""
    return svc.devices.set_location(who, device_id, body.latitude, body.longitude)


@router.put("/{device_id}/phone", response_model=DeviceOut)
def set_device_phone(
    device_id: str, body: PhoneIn, svc: ServicesDep, who: Principal = allow("device.manage")
) -> DeviceOut:
    """The number of the SIM in the cluster's modem: where SMS orders reach it when the data
    link is gone."""
    return svc.devices.set_phone(who, device_id, body.phone)


@router.post("/{device_id}/rotate-token", response_model=DeviceRegistered)
def rotate_device_token(
    device_id: str,
    svc: ServicesDep,
    output: str = Query("alsa", pattern="^(alsa|file)$"),
    who: Principal = allow("device.manage"),
) -> DeviceRegistered:
    """A new device token (the old one stops working at once) and the config file carrying it."""
    return svc.devices.rotate_token(who, device_id, output)


@router.post("/{device_id}/retire", response_model=DeviceOut)
def retire_device(
    device_id: str, svc: ServicesDep, who: Principal = allow("device.manage")
) -> DeviceOut:
    """Take a device out of service: its token stops working, nothing is planned or sent to it,
    its reports are ignored. Its history stays."""
    return svc.devices.retire(who, device_id)
