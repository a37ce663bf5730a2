"""The technician's pages: the fleet (table, map, online ratio), one cluster, the alarms."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from protocol.messages import utcnow

from ...auth import Principal
from ...container import Services
from ...fleet import history as fleet_history
from ...http import ServicesDep
from ...i18n import translate
from ...services.views import DeviceOut
from .. import svg
from ..render import lang_of, page, render

router = APIRouter(prefix="/ui", tags=["web"], include_in_schema=False)

DEVICE_CHARTS = (("load_1m", "device.load", ""), ("battery_v", "device.battery", " V"),
                 ("temperature_c", "device.temperature", " °C"),
                 ("disk_free_mb", "device.disk", " MB"), ("signal_dbm", "device.signal", " dBm"))


# --- view builders ----------------------------------------------------------------------------


STALE_AFTER = timedelta(minutes=5)
"""Readings older than this are flagged (an offline cluster keeps its last ones)."""
SORTS = ("name", "state", "alarms")


def fleet_rows(svc: Services, devices: list[DeviceOut], zone: str | None, state: str | None,
               q: str = "", sort: str = "name") -> list[dict[str, Any]]:
    """The rows shown, from the fleet listed once (``devices``): filtered and sorted."""
    playing = svc.broadcasts.now_playing()
    now = utcnow()
    out = []
    for d in devices:
        if (zone and zone not in d.zones) or (state and d.status != state) or \
                (q and q.lower() not in f"{d.id} {d.name}".lower()):
            continue
        health = d.last_health or {}
        read_at = d.last_health_at
        out.append(dict(id=d.id, name=d.name, zones=d.zones, status=d.status,
                        status_at=d.status_at, last_seen_at=d.last_seen_at,
                        alarms=d.active_alarms, hw=health.get("hardware") or {},
                        net=health.get("network") or {}, load=health.get("load_1m"),
                        lat=d.latitude, lon=d.longitude, playing=playing.get(d.id),
                        read_at=read_at,
                        stale=read_at is None or now - read_at > STALE_AFTER))
    order = {"offline": 0, "stopped": 1}
    if sort == "state":
        out.sort(key=lambda r: (order.get(r["status"] or "", 2), r["name"]))
    elif sort == "alarms":
        out.sort(key=lambda r: (-r["alarms"], r["name"]))
    else:
        out.sort(key=lambda r: r["name"])
    return out


def fleet_counts(devices: list[DeviceOut]) -> dict[str, int]:
    """The whole fleet by state (not the filtered rows), and how many have open alarms."""
    counts = {s: sum(1 for d in devices if d.status == s) for s in ("online", "offline",
                                                                   "stopped")}
    counts["unknown"] = len(devices) - sum(counts.values())
    counts["alarms"] = sum(1 for d in devices if d.active_alarms)
    counts["all"] = len(devices)
    return counts


def _cluster_map(devices: list[dict[str, Any]], lang: str) -> str:
    return svg.cluster_map([(d["name"], d["lat"], d["lon"], d["status"]) for d in devices],
                           translate("fleet.map", lang))


def fleet_view(svc: Services, lang: str, zone: str, state: str, q: str = "",
               sort: str = "name") -> dict[str, Any]:
    fleet = svc.devices.list(include_retired=False)
    devices = fleet_rows(svc, fleet, zone or None, state or None, q, sort)
    counts = fleet_counts(fleet)
    tz = ZoneInfo(svc.settings.timezone)
    ratio = [(ts.astimezone(tz), value) for ts, value in fleet_history.ratio_points(
        fleet_history.samples(svc.sessions, utcnow() - timedelta(days=7)))]
    every = svc.settings.fleet_sample_s
    return dict(devices=devices, zones=svc.zones.names(), zone=zone, state=state, q=q,
                sort=sort, sorts=SORTS, counts=counts,
                online_now=round(100 * counts["online"] / counts["all"]) if counts["all"] else None,
                cluster_map=_cluster_map(devices, lang),
                ratio_chart=svg.line_chart(ratio, translate("fleet.online_ratio", lang), " %",
                                           (0, 100)),
                ratio_now=round(ratio[-1][1]) if ratio else None, ratio_points=len(ratio),
                dead_air=svc.relays.dead_air(7),
                sample_every=f"{every:g} s" if every < 60
                else f"{every / 60:g} {translate('unit.minutes', lang)}")


def device_view(svc: Services, lang: str, device_id: str) -> dict[str, Any]:
    device = svc.devices.get(device_id)
    rows = svc.devices.telemetry(device_id, utcnow() - timedelta(days=2))
    plays = svc.broadcasts.playback_log(device_id, limit=20)
    titles = svc.broadcasts.titles({p.play_id for p in plays if p.play_id})
    tz = ZoneInfo(svc.settings.timezone)

    def series(attr: str) -> list[tuple[datetime, float]]:
        return [(r.ts.astimezone(tz), float(getattr(r, attr))) for r in rows
                if getattr(r, attr) is not None]

    charts = [(translate(key, lang), svg.line_chart(series(attr), translate(key, lang), unit))
              for attr, key, unit in DEVICE_CHARTS if len(series(attr)) > 1]
    return dict(
        d=dict(id=device.id, name=device.name, status=device.status,
               status_at=device.status_at, health=device.last_health or {},
               zones=device.zones, volume=device.volume, lat=device.latitude,
               lon=device.longitude, retired=device.retired,
               current_volume=(device.last_health or {}).get("volume", device.volume),
               health_at=device.last_health_at),
        charts=charts, all_zones=svc.zones.names(), alarms=svc.alarms.list(device_id),
        plays=[dict(ts=p.ts, played=p.type == "playback.finished"
                    and not p.payload.get("interrupted"),
                    title=titles.get(p.play_id or "") or p.play_id, payload=p.payload,
                    broadcast=p.play_id if p.play_id in titles else None) for p in plays])


# --- pages ------------------------------------------------------------------------------------


@router.get("/fleet", response_class=HTMLResponse)
def fleet(request: Request, svc: ServicesDep, zone: str | None = None, state: str | None = None,
          q: str = "", sort: str = "name", who: Principal = page("device.read")) -> HTMLResponse:
    return render(request, "fleet.html", who, **fleet_view(
        svc, lang_of(request), zone or "", state or "", q[:100],
        sort if sort in SORTS else "name"))


@router.get("/fleet/table", response_class=HTMLResponse)
def fleet_table(request: Request, svc: ServicesDep, zone: str | None = None,
                state: str | None = None, q: str = "", sort: str = "name",
                who: Principal = page("device.read")) -> HTMLResponse:
    fleet = svc.devices.list(include_retired=False)
    devices = fleet_rows(svc, fleet, zone or None, state or None, q[:100],
                         sort if sort in SORTS else "name")
    return render(request, "_fleet_table.html", who, devices=devices, counts=fleet_counts(fleet),
                  cluster_map=_cluster_map(devices, lang_of(request)))


@router.get("/devices/{device_id}", response_class=HTMLResponse)
def device_page(device_id: str, request: Request, svc: ServicesDep,
                who: Principal = page("device.read")) -> HTMLResponse:
    return render(request, "device.html", who, **device_view(svc, lang_of(request), device_id))


@router.get("/alarms", response_class=HTMLResponse)
def alarms_page(request: Request, svc: ServicesDep, who: Principal = page("alarm.read")
                ) -> HTMLResponse:
    return render(request, "alarms.html", who, alarms=svc.alarms.list())
