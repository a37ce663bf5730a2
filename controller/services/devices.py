"""Devices: register (with the agent's config file), list, rotate credentials, retire, and the
settings a technician changes from afar (zones, volume, location)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import (
    CalibrateHearingCommand,
    SetVolumeCommand,
    SetZonesCommand,
    StopCommand,
)

from ..auth import Principal, token_hash
from ..db.models import Alarm, Device, DeviceEvent, DeviceTelemetry, DeviceZone, Zone
from ..domain.device import DeviceKind, DeviceStatus
from ..domain.errors import Conflict, Invalid, NotFound
from ..fleet.commands import CommandPath
from ..keys import KeyRing
from ..settings import Settings, is_loopback
from ..streams.timeline import channel_url
from .audit import AuditLog
from .broker_access import BrokerAccess
from .views import DeviceOut, DeviceRegistered


def active_alarm_counts(session: Session, device_id: str | None = None) -> dict[str, int]:
    """device id → number of alarms still active."""
    query = (
        select(Alarm.device_id, func.count())
        .where(Alarm.cleared_at.is_(None))
        .group_by(Alarm.device_id)
    )
    if device_id is not None:
        query = query.where(Alarm.device_id == device_id)
    return dict(session.execute(query).all())  # type: ignore[arg-type]


def device_out(device: Device, active_alarms: int = 0) -> DeviceOut:
    return DeviceOut(
        id=device.id,
        name=device.name,
        kind=device.kind,
        household=device.household,
        zones=sorted(z.id for z in device.zones),
        status=device.status,
        status_at=device.status_at,
        last_seen_at=device.last_seen_at,
        version=device.version,
        capabilities=list(device.capabilities or []),
        last_health=device.last_health,
        last_health_at=device.last_health_at,
        retired=device.retired,
        volume=device.volume,
        latitude=device.latitude,
        longitude=device.longitude,
        phone=device.phone,
        hearing=device.hearing,
        active_alarms=active_alarms,
        created_at=device.created_at,
    )


def stream_only_config(url: str, device_id: str, token: str) -> str:
    """What a stream-only receiver is given: the channel's address with its own log-in (the
    stream server asks the controller; its listener records are the receiver's proof)."""
    scheme, _, rest = url.partition("://")
    address = f"{scheme}://{quote(device_id, safe='')}:{quote(token, safe='')}@{rest}"
    return (
        "# Loa Làng: máy thu chỉ nghe luồng / a stream-only receiver\n"
        f"# {device_id}: nhập địa chỉ này vào máy thu (giữ bí mật: nó chứa mật khẩu của máy)\n"
        "# type this address into the receiver (keep it secret: it holds its password)\n"
        f"stream_url = {_toml_str(address)}\n"
    )


FLEET_SORTS = ("name", "state", "alarms")
FLEET_PAGE_SIZE = 200
"""Rows per fleet page: a province's 5,000 clusters are 25 pages, not one 3 MB table."""


def offline_since(session: Session) -> dict[str, datetime | None]:
    """Devices whose link is lost (or that were never heard from), and since when."""
    return dict(
        session.execute(  # type: ignore[arg-type]
            select(Device.id, Device.status_at).where(
                Device.status.in_((DeviceStatus.offline, DeviceStatus.unknown))
            )
        ).all()
    )


@dataclass(frozen=True)
class Unreachable:
    """A loudspeaker in service that cannot play now, and since when it is so."""

    id: str
    name: str
    status: str  # offline (link lost), stopped (on purpose), unknown (never heard from)
    since: datetime | None


def unreachable(session: Session) -> list[Unreachable]:
    """Devices in service that cannot play now, the longest gone first."""
    rows = session.execute(
        select(Device.id, Device.name, Device.status, Device.status_at)
        .where(Device.retired.is_(False), Device.status != DeviceStatus.online)
        .order_by(Device.status_at.is_(None).desc(), Device.status_at, Device.name)
    ).all()
    return [Unreachable(*row) for row in rows]


@dataclass(frozen=True)
class FleetPage:
    """One page of the fleet as a technician filtered and sorted it."""

    devices: list[DeviceOut]  # this page's, in order
    counts: dict[str, int]  # the whole fleet in service by state, and how many have alarms
    matched: int  # devices the filters let through, on all pages
    page: int  # 1-based, within 1..pages
    pages: int


def fleet_order(
    rows: list[Any],
    alarms: dict[str, int],
    zone_members: set[str] | None,
    state: str | None,
    q: str,
    sort: str,
) -> list[Any]:
    """The (id, name, status) rows the filters let through, in the order asked for."""
    needle = q.lower()
    out = [
        r
        for r in rows
        if (zone_members is None or r.id in zone_members)
        and (not state or r.status == state)
        and (not needle or needle in f"{r.id} {r.name}".lower())
    ]
    order = {"offline": 0, "stopped": 1}
    if sort == "state":
        out.sort(key=lambda r: (order.get(r.status or "", 2), r.name))
    elif sort == "alarms":
        out.sort(key=lambda r: (-alarms.get(r.id, 0), r.name))
    else:
        out.sort(key=lambda r: r.name)
    return out


def fleet_counts(rows: list[Any], alarms: dict[str, int]) -> dict[str, int]:
    counts = {s.value: sum(1 for r in rows if r.status == s) for s in DeviceStatus}
    counts["alarms"] = sum(1 for r in rows if alarms.get(r.id))
    counts["all"] = len(rows)
    return counts


def get_device(session: Session, device_id: str) -> Device:
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound("device.not_found", id=device_id)
    return device


def _toml_str(value: str) -> str:
    # A JSON string literal is a valid TOML basic string.
    return json.dumps(value, ensure_ascii=False)


def _zones(session: Session, ids: list[str]) -> list[Zone]:
    zones = []
    for zone_id in dict.fromkeys(ids):
        zone = session.get(Zone, zone_id)
        if zone is None:
            raise NotFound("zone.not_found", id=zone_id)
        zones.append(zone)
    return zones


def _new_token(device_id: str) -> tuple[str, str]:
    """A device token ``{id}.{secret}`` (shown once) and the secret's hash (stored)."""
    secret = secrets.token_urlsafe(32)
    return f"{device_id}.{secret}", token_hash(secret)


RETIRE_WAIT_S = 5.0
"""How long retiring an online device waits for it to acknowledge being emptied."""


def _wait_ack(sessions: sessionmaker[Session], device_id: str, cmd_id: str, timeout: float) -> bool:
    """Until the device's ack of ``cmd_id`` is stored, or ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sessions() as session:
            recent = session.scalars(
                select(DeviceEvent.payload)
                .where(DeviceEvent.device_id == device_id, DeviceEvent.type == "ack")
                .order_by(DeviceEvent.id.desc())
                .limit(20)
            )
            if any(p.get("cmd_id") == cmd_id for p in recent):
                return True
        time.sleep(0.1)
    return False


class DeviceService:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        keys: KeyRing,
        commands: CommandPath,
        audit: AuditLog,
        plans_changed: Callable[[], None],
        access: BrokerAccess | None = None,
        empty_plan: Callable[[str], object] = lambda device_id: None,
    ):
        self._settings = settings
        self._empty_plan = empty_plan
        self._access = access  # the broker's log-ins follow the registry
        self._sessions = sessions
        self._keys = keys
        self._commands = commands
        self._audit = audit
        self._plans_changed = plans_changed

    def agent_config(self, device: Device, token: str, output: str) -> str:
        """The agent's config file (read by ``edge_agent.config.AgentConfig``); for a
        stream-only receiver, what to type into it: the channel's address and its log-in."""
        s = self._settings
        if device.kind is DeviceKind.stream_only:
            return stream_only_config(channel_url(s), device.id, token)
        zones = ", ".join(_toml_str(z.id) for z in device.zones)
        lines = [
            "# Loa Làng edge agent configuration, generated by the controller.",
            "# Keep it secret: it holds this device's credentials.",
            f"device_id = {_toml_str(device.id)}",
            f"controller_url = {_toml_str(s.resolved_public_url)}",
            f"token = {_toml_str(token)}",
            f"zones = [{zones}]",
            'data_dir = "/var/lib/loalang-agent"',
            "",
        ]
        ca = self._station_ca()
        if ca is not None:  # trusted for MQTT over TLS and HTTPS to the controller
            lines.insert(-1, f'ca_pem = """\n{ca.strip()}\n"""')
        lines += ["[mqtt]"]
        if s.mqtt_tls_port and s.broker == "mosquitto":  # the TLS listener of ours
            lines += [
                f"host = {_toml_str(s.agent_mqtt_host)}",
                f"port = {s.mqtt_tls_port}",
                "tls = true",
            ]
        elif s.mqtt_ca_file:  # an operator's broker with TLS
            lines += [
                f"host = {_toml_str(s.mqtt_public_host or s.mqtt_host)}",
                f"port = {s.mqtt_port}",
                "tls = true",
            ]
        else:  # the broker on this machine is reached by the public name from elsewhere
            host = (
                s.agent_mqtt_host
                if s.broker == "external" and is_loopback(s.mqtt_host)
                else s.mqtt_host
            )
            lines += [f"host = {_toml_str(host)}", f"port = {s.mqtt_port}"]
        if self._access is not None and self._access.enabled:
            # its own broker log-in (never the controller's): the ACL allows it its own topics
            lines.append(f"username = {_toml_str(device.id)}")
            lines.append(f"password = {_toml_str(token)}")
        lines += [
            "",
            "# Controller public keys this device obeys (key id = base64url Ed25519 key).",
            "[keys]",
            *(
                f"{_toml_str(k.kid)} = {_toml_str(k.public_b64)}"
                for k in (self._keys.active, self._keys.next)
                if k is not None
            ),
            "",
            "[output]",
            f"backend = {_toml_str(output)}",
        ]
        if output == "alsa":
            lines.append('device = "default"')
        if device.kind is DeviceKind.receiver:
            lines.insert(lines.index("[mqtt]"), 'kind = "receiver"')
            lines += ["", "# its indoor scale and the local control its buttons call", "[receiver]"]
            lines += ["control_port = 8765", "indoor_max = 40", "volume = 50"]
        return "\n".join(lines) + "\n"

    def _station_ca(self) -> str | None:
        """The CA agents must trust: the operator's broker CA, else the station's own (made
        for HTTPS and the broker's TLS listener), if there is one."""
        s = self._settings
        if s.mqtt_ca_file:
            return s.mqtt_ca_file.read_text()
        own = s.data_dir / "tls" / "ca.crt"
        if (s.mqtt_tls_port or s.resolved_public_url.startswith("https:")) and own.is_file():
            return own.read_text()
        return None

    # --- registry --------------------------------------------------------------------------

    def register(
        self,
        who: Principal,
        device_id: str,
        name: str,
        zones: list[str],
        output: str = "alsa",
        latitude: float | None = None,
        longitude: float | None = None,
        kind: DeviceKind = DeviceKind.cluster,
    ) -> DeviceRegistered:
        """Register a device; the answer holds its token (shown once) and its config file
        (for a stream-only receiver: the channel's address with its own log-in)."""
        token, hashed = _new_token(device_id)
        with self._sessions.begin() as session:
            if session.get(Device, device_id) is not None:
                raise Conflict("device.exists", id=device_id)
            device = Device(
                id=device_id,
                name=name,
                kind=kind,
                token_hash=hashed,
                capabilities=[],
                zones=_zones(session, zones),
                latitude=latitude,
                longitude=longitude,
                mqtt_password_hash=self._broker_hash(token),
            )
            session.add(device)
            session.flush()
            registered = DeviceRegistered(
                device=device_out(device),
                token=token,
                config_toml=self.agent_config(device, token, output),
            )
        self._access_changed()
        self._plans_changed()
        self._audit.record(who, "device.register", device_id, zones=list(zones), kind=kind.value)
        return registered

    def _broker_hash(self, token: str) -> str | None:
        return self._access.device_hash(token) if self._access is not None else None

    def _access_changed(self) -> None:
        if self._access is not None:
            self._access.sync()

    def rotate_token(
        self, who: Principal, device_id: str, output: str = "alsa"
    ) -> DeviceRegistered:
        """A new device token (the old one stops working at once) and the config carrying it."""
        token, hashed = _new_token(device_id)
        with self._sessions.begin() as session:
            device = get_device(session, device_id)
            if device.retired:
                raise Conflict("device.retired", id=device_id)
            device.token_hash = hashed
            device.mqtt_password_hash = self._broker_hash(token)  # the old one stops now
            session.flush()
            registered = DeviceRegistered(
                device=device_out(device),
                token=token,
                config_toml=self.agent_config(device, token, output),
            )
        self._access_changed()
        self._audit.record(who, "device.rotate_token", device_id)
        return registered

    def retire(self, who: Principal, device_id: str) -> DeviceOut:
        """Out of service: told first (silence, no zones, an empty plan, so a Pi still on its
        pole plays nothing from its disk), then its token and broker log-in stop working,
        nothing is planned or sent to it, its reports are ignored. Its history stays."""
        with self._sessions.begin() as session:
            device = get_device(session, device_id)
            online = device.status == DeviceStatus.online
            device.retired = True
            session.flush()
            out = device_out(device)
        target = f"device:{device_id}"
        self._commands.send(target, StopCommand(reason="retired"))
        zones = self._commands.send(target, SetZonesCommand(zones=[]))
        self._empty_plan(device_id)
        if online:  # give it a moment to take them before its log-in goes
            _wait_ack(self._sessions, device_id, zones.cmd_id, RETIRE_WAIT_S)
        self._access_changed()  # its broker log-in is refused from now on
        self._plans_changed()
        self._audit.record(who, "device.retire", device_id)
        return out

    def list(
        self,
        zone: str | None = None,
        status: str | None = None,
        include_retired: bool = True,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[DeviceOut]:
        """Devices by id, filtered in the database; ``offset``/``limit`` page through them."""
        with self._sessions() as session:
            query = select(Device).order_by(Device.id).offset(offset).limit(limit)
            if not include_retired:
                query = query.where(Device.retired.is_(False))
            if zone:
                query = query.where(
                    Device.id.in_(select(DeviceZone.device_id).where(DeviceZone.zone_id == zone))
                )
            if status:
                query = query.where(Device.status == status)
            alarms = active_alarm_counts(session)
            return [device_out(d, alarms.get(d.id, 0)) for d in session.scalars(query)]

    def fleet_page(
        self,
        zone: str | None = None,
        state: str | None = None,
        q: str = "",
        sort: str = "name",
        page: int = 1,
        per_page: int = FLEET_PAGE_SIZE,
    ) -> FleetPage:
        """The fleet page: counts over every device in service, filters and order over light
        rows, and only the page's devices read in full (their health, zones)."""
        with self._sessions() as session:
            rows = list(
                session.execute(
                    select(Device.id, Device.name, Device.status).where(Device.retired.is_(False))
                )
            )
            alarms = active_alarm_counts(session)
            members = (
                set(session.scalars(select(DeviceZone.device_id).where(DeviceZone.zone_id == zone)))
                if zone
                else None
            )
            chosen = fleet_order(
                rows, alarms, members, state, q, sort if sort in FLEET_SORTS else "name"
            )
            pages = max(1, -(-len(chosen) // per_page))
            page = min(max(1, page), pages)
            ids = [r.id for r in chosen[(page - 1) * per_page : page * per_page]]
            full = {d.id: d for d in session.scalars(select(Device).where(Device.id.in_(ids)))}
            devices = [device_out(full[i], alarms.get(i, 0)) for i in ids if i in full]
        return FleetPage(devices, fleet_counts(rows, alarms), len(chosen), page, pages)

    def get(self, device_id: str) -> DeviceOut:
        with self._sessions() as session:
            device = get_device(session, device_id)
            out = device_out(device, active_alarm_counts(session, device_id).get(device_id, 0))
        out.commands_pending = sorted(
            {c.kind for c in self._commands.pending(target=f"device:{device_id}")}
        )
        return out

    def telemetry(self, device_id: str, since: datetime) -> list[DeviceTelemetry]:
        """The device's health reports since ``since``, oldest first (for plots)."""
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(DeviceTelemetry)
                    .where(DeviceTelemetry.device_id == device_id, DeviceTelemetry.ts >= since)
                    .order_by(DeviceTelemetry.ts)
                )
            )

    def offline_since(self) -> dict[str, datetime | None]:
        """Devices whose link is lost (or never heard from), and since when."""
        with self._sessions() as session:
            return offline_since(session)

    def unreachable(self) -> list[Unreachable]:
        """In service but not on air (link lost, stopped, never heard from), longest first."""
        with self._sessions() as session:
            return unreachable(session)

    def names(self) -> dict[str, str]:
        with self._sessions() as session:
            return dict(session.execute(select(Device.id, Device.name)).all())  # type: ignore[arg-type]

    def places(self, device_ids: Collection[str]) -> dict[str, tuple[float, float]]:
        """Where these devices stand (those with a location), for a map."""
        with self._sessions() as session:
            return {
                d: (lat, lon)
                for d, lat, lon in session.execute(
                    select(Device.id, Device.latitude, Device.longitude).where(
                        Device.id.in_(list(device_ids)),
                        Device.latitude.is_not(None),
                        Device.longitude.is_not(None),
                    )
                )
            }

    # --- settings from afar ----------------------------------------------------------------

    def set_zones(self, who: Principal, device_id: str, zones: list[str]) -> DeviceOut:
        """Change a device's zones and tell the agent (signed ``set_zones``) to resubscribe."""
        with self._sessions.begin() as session:
            device = get_device(session, device_id)
            device.zones = _zones(session, zones)
            session.flush()
            ids = sorted(z.id for z in device.zones)
        self._commands.send(f"device:{device_id}", SetZonesCommand(zones=ids))
        self._access_changed()  # its zones' command topics in the ACL
        self._plans_changed()
        self._audit.record(who, "device.zones", device_id, zones=ids)
        return self.get(device_id)

    def set_volume(self, who: Principal, device_id: str, level: int) -> DeviceOut:
        """The device's own volume (a signed ``set_volume``; the agent keeps it across restarts)."""
        with self._sessions.begin() as session:
            get_device(session, device_id).volume = level
        self._commands.send(f"device:{device_id}", SetVolumeCommand(level=level))
        self._audit.record(who, "device.volume", device_id, level=level)
        return self.get(device_id)

    def calibrate_hearing(self, who: Principal, device_id: str, volume: int | None) -> DeviceOut:
        """The calibration chime on a cluster with a microphone (signed ``calibrate_hearing``):
        what it hears becomes the level later plays are compared with."""
        with self._sessions() as session:
            device = get_device(session, device_id)
            capabilities = device.capabilities or []
        if not any(str(c).startswith("hearing:") for c in capabilities):
            raise Invalid("device.no_microphone", device=device_id)
        command = CalibrateHearingCommand() if volume is None else CalibrateHearingCommand(volume)
        self._commands.send(f"device:{device_id}", command)
        self._audit.record(who, "device.calibrate_hearing", device_id, volume=volume or 0)
        return self.get(device_id)

    def set_phone(self, who: Principal, device_id: str, phone: str | None) -> DeviceOut:
        """The number of the SIM in the cluster's modem: SMS orders go there (None: none)."""
        with self._sessions.begin() as session:
            device = get_device(session, device_id)
            device.phone = phone
        self._audit.record(who, "device.phone", device_id, phone=phone or "")
        return self.get(device_id)

    def set_location(
        self, who: Principal, device_id: str, latitude: float, longitude: float
    ) -> DeviceOut:
        """Where the cluster stands (WGS 84), for the technician's map."""
        with self._sessions.begin() as session:
            device = get_device(session, device_id)
            device.latitude, device.longitude = latitude, longitude
        self._audit.record(
            who, "device.location", device_id, latitude=latitude, longitude=longitude
        )
        return self.get(device_id)
