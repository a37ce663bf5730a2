"""The technician's pages: the fleet (table, map, online ratio), one cluster, the alarms."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from protocol.messages import utcnow

from ... import charts as svg
from ...auth import Principal
from ...container import Services
from ...domain.device import DeviceStatus
from ...domain.outcome import dead_lines, play_outcome
from ...fleet import history as fleet_history
from ...http import ServicesDep
from ...i18n import heard_words, local_time, translate, translate_or
from ...services.devices import FLEET_SORTS
from ...services.views import DeviceOut
from ..render import lang_of, page, render

router = APIRouter(prefix="/ui", tags=["web"], include_in_schema=False)

DEVICE_CHARTS = (
    ("load_1m", "device.load", ""),
    ("battery_v", "device.battery", " V"),
    ("temperature_c", "device.temperature", " °C"),
    ("disk_free_mb", "device.disk", " MB"),
    ("signal_dbm", "device.signal", " dBm"),
)


# --- view builders ----------------------------------------------------------------------------


STALE_AFTER = timedelta(minutes=5)
"""Readings older than this are flagged (an offline cluster keeps its last ones)."""


def fleet_rows(svc: Services, devices: list[DeviceOut]) -> list[dict[str, Any]]:
    """What the table shows of each of the page's devices."""
    playing = svc.broadcast_queries.now_playing()
    now = utcnow()
    out = []
    for d in devices:
        health = d.last_health or {}
        read_at = d.last_health_at
        out.append(
            dict(
                id=d.id,
                name=d.name,
                kind=d.kind,
                household=d.household,
                zones=d.zones,
                status=d.status,
                status_at=d.status_at,
                last_seen_at=d.last_seen_at,
                alarms=d.active_alarms,
                hw=health.get("hardware") or {},
                net=health.get("network") or {},
                load=health.get("load_1m"),
                lat=d.latitude,
                lon=d.longitude,
                playing=playing.get(d.id),
                read_at=read_at,
                version=d.version,
                # figures from before its link went are not what it is like now
                stale=read_at is None
                or now - read_at > STALE_AFTER
                or not DeviceStatus(d.status).reachable,
            )
        )
    return out


def fleet_table(
    svc: Services, lang: str, zone: str, state: str, q: str, sort: str, page: int
) -> dict[str, Any]:
    """The table's part of the page (also what its live refresh renders)."""
    sort = sort if sort in FLEET_SORTS else "name"
    found = svc.devices.fleet_page(zone or None, state or None, q, sort, page)
    devices = fleet_rows(svc, found.devices)
    return dict(
        devices=devices,
        counts=found.counts,
        matched=found.matched,
        page=found.page,
        pages=found.pages,
        zone=zone,
        state=state,
        q=q,
        sort=sort,
        cluster_map=_cluster_map(devices, lang),
    )


def _cluster_map(devices: list[dict[str, Any]], lang: str) -> str:
    return svg.cluster_map(
        [(d["name"], d["lat"], d["lon"], d["status"]) for d in devices],
        translate("fleet.map", lang),
    )


def _hearing_view(hearing: dict[str, Any], lang: str, tz: str) -> dict[str, str]:
    """The microphone's calibration and latest verdict, in words, for the device page."""
    cal = hearing.get("calibration") or {}
    when = local_time(str(cal.get("ts", "")), tz) if cal else ""
    if not cal:
        calibration = translate("heard.not_calibrated", lang)
    elif cal.get("ok"):
        calibration = translate("heard.calibrated", lang, when=when, db=cal.get("gain_db"))
    else:
        calibration = translate(
            "heard.calibration_failed", lang, when=when, detail=cal.get("detail") or ""
        )
    last = hearing.get("last") or {}
    return dict(
        calibration=calibration,
        last=translate("heard.last", lang, words=heard_words(last, lang)) if last else "",
        verdict=str(last.get("verdict", "")),
    )


def fleet_view(
    svc: Services, lang: str, zone: str, state: str, q: str = "", sort: str = "name", page: int = 1
) -> dict[str, Any]:
    table = fleet_table(svc, lang, zone, state, q, sort, page)
    counts = table["counts"]
    tz = ZoneInfo(svc.settings.timezone)
    ratio = [
        (ts.astimezone(tz), value)
        for ts, value in fleet_history.ratio_points(
            fleet_history.samples(svc.sessions, utcnow() - timedelta(days=7))
        )
    ]
    every = svc.settings.fleet_sample_s
    return dict(
        **table,
        zones=svc.zones.names(),
        sorts=FLEET_SORTS,
        online_now=round(100 * counts["online"] / counts["all"]) if counts["all"] else None,
        ratio_chart=svg.line_chart(ratio, translate("fleet.online_ratio", lang), " %", (0, 100)),
        ratio_now=round(ratio[-1][1]) if ratio else None,
        ratio_points=len(ratio),
        dead_air=svc.relays.dead_air(7),
        sample_every=f"{every:g} s"
        if every < 60
        else f"{every / 60:g} {translate('unit.minutes', lang)}",
    )


def _household(controls: dict[str, Any] | None) -> dict[str, Any] | None:
    """A receiver's household controls as the page shows them (its time as a time)."""
    if not controls:
        return None
    return {**controls, "ts": datetime.fromisoformat(str(controls["ts"]))}


def device_view(svc: Services, lang: str, device_id: str) -> dict[str, Any]:
    device = svc.devices.get(device_id)
    rows = svc.devices.telemetry(device_id, utcnow() - timedelta(days=2))
    plays = svc.broadcast_queries.playback_log(device_id, limit=20)
    titles = svc.broadcast_queries.titles({p.play_id for p in plays if p.play_id})
    tz = ZoneInfo(svc.settings.timezone)

    def series(attr: str) -> list[tuple[datetime, float]]:
        return [
            (r.ts.astimezone(tz), float(getattr(r, attr)))
            for r in rows
            if getattr(r, attr) is not None
        ]

    charts = [
        (translate(key, lang), svg.line_chart(series(attr), translate(key, lang), unit))
        for attr, key, unit in DEVICE_CHARTS
        if len(series(attr)) > 1
    ]
    return dict(
        d=dict(
            id=device.id,
            name=device.name,
            kind=device.kind,
            household=_household(device.household),
            listened=svc.listeners.of_device(device.id) if device.kind == "stream_only" else [],
            status=device.status,
            status_at=device.status_at,
            health=device.last_health or {},
            zones=device.zones,
            volume=device.volume,
            lat=device.latitude,
            lon=device.longitude,
            retired=device.retired,
            phone=device.phone,
            current_volume=(device.last_health or {}).get("volume", device.volume),
            health_at=device.last_health_at,
            microphone=any(str(c).startswith("hearing:") for c in device.capabilities or []),
            hearing=_hearing_view(device.hearing or {}, lang, svc.settings.timezone),
        ),
        charts=charts,
        all_zones=svc.zones.names(),
        alarms=svc.alarms.list(device_id),
        security=[
            dict(
                ts=e.ts,
                reason=translate_or(
                    f"security.{e.payload.get('reason')}", lang, str(e.payload.get("reason", ""))
                ),
                detail=e.payload.get("detail", ""),
                about=(e.payload.get("report") or {}).get("play_id")
                or e.payload.get("topic")
                or e.payload.get("cmd_id")
                or "",
            )
            for e in svc.broadcast_queries.events("security", device_id, limit=10)
        ],
        plays=[
            dict(
                ts=p.ts,
                outcome=play_outcome(p.type, p.payload).value,
                dead_lines=", ".join(str(n) for n in dead_lines(p.payload.get("line_check"))),
                title=titles.get(p.play_id or "") or p.play_id,
                payload=p.payload,
                broadcast=p.play_id if p.play_id in titles else None,
            )
            for p in plays
        ],
        storm=_storm_path(svc, device.last_health or {}, lang),
    )


def _storm_path(svc: Services, health: dict[str, Any], lang: str) -> dict[str, str]:
    """What the cluster holds for a storm, in words: the pinned messages and its modem."""
    current = svc.pinned.version()
    held = health.get("pinned_version")
    modem = health.get("modem")
    if current == 0:
        pinned = translate("device.pinned_none", lang)
    elif held == current:
        pinned = translate("device.pinned_current", lang, version=current)
    else:
        pinned = translate("device.pinned_behind", lang, held=held or 0, version=current)
    if not isinstance(modem, dict):
        modem_words = translate("device.modem_none", lang)
    elif not modem.get("connected"):
        modem_words = translate("device.modem_down", lang)
    else:
        modem_words = translate(
            "device.modem_ok",
            lang,
            operator=modem.get("operator") or "?",
            dbm=modem.get("signal_dbm") if modem.get("signal_dbm") is not None else "?",
        )
    return dict(pinned=pinned, pinned_ok="1" if held == current else "", modem=modem_words)


# --- pages ------------------------------------------------------------------------------------


@router.get("/fleet", response_class=HTMLResponse)
def fleet(
    request: Request,
    svc: ServicesDep,
    zone: str | None = None,
    state: str | None = None,
    q: str = "",
    sort: str = "name",
    number: int = Query(1, alias="page"),
    who: Principal = page("device.read"),
) -> HTMLResponse:
    return render(
        request,
        "fleet.html",
        who,
        **fleet_view(svc, lang_of(request), zone or "", state or "", q[:100], sort, number),
    )


@router.get("/fleet/table", response_class=HTMLResponse)
def fleet_table_part(
    request: Request,
    svc: ServicesDep,
    zone: str | None = None,
    state: str | None = None,
    q: str = "",
    sort: str = "name",
    number: int = Query(1, alias="page"),
    who: Principal = page("device.read"),
) -> HTMLResponse:
    return render(
        request,
        "_fleet_table.html",
        who,
        **fleet_table(svc, lang_of(request), zone or "", state or "", q[:100], sort, number),
    )


@router.get("/devices/{device_id}", response_class=HTMLResponse)
def device_page(
    device_id: str, request: Request, svc: ServicesDep, who: Principal = page("device.read")
) -> HTMLResponse:
    return render(request, "device.html", who, **device_view(svc, lang_of(request), device_id))


@router.get("/alarms", response_class=HTMLResponse)
def alarms_page(
    request: Request, svc: ServicesDep, who: Principal = page("alarm.read")
) -> HTMLResponse:
    return render(request, "alarms.html", who, alarms=svc.alarms.list())
