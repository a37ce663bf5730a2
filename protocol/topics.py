"""Every MQTT topic of the system, built from a device id or a zone id.

Layout (``loalang/v1`` prefix):

- ``device/{id}/cmd``  ``zone/{zone}/cmd``  ``all/cmd`` — signed commands (controller → agents)
- ``device/{id}/status`` — retained availability, with the agent's last-will
- ``device/{id}/telemetry`` ``device/{id}/event`` ``device/{id}/ack`` — agent → controller
- ``device/{id}/plan`` — retained signed plan (offline-first)
- ``device/{id}/receipt`` — the event ids of reports the controller has stored: only then
  does the agent delete them from its outbox (a broker's PUBACK is not enough)
- ``controller/{controller_id}/status`` — retained availability of each controller (several
  may share a broker); ``controller/status`` is the same for agents older than 0.9
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Literal, NamedTuple

PREFIX = "loalang/v1"
ID_PATTERN = r"[a-z0-9][a-z0-9_-]{0,63}"
"""A device or zone id: lower case, safe in a topic and a path."""
SHA256_PATTERN = r"^[0-9a-f]{64}$"
TARGET_PATTERN = f"^(all|device:{ID_PATTERN}|zone:{ID_PATTERN})$"
"""What a command is addressed to: ``all``, ``device:ID`` or ``zone:ID``."""
_ID_RE = re.compile(rf"^{ID_PATTERN}$")

DeviceTopicKind = Literal["status", "telemetry", "event", "ack", "cmd", "plan", "receipt"]
DEVICE_TOPIC_KINDS: tuple[str, ...] = (
    "status",
    "telemetry",
    "event",
    "ack",
    "cmd",
    "plan",
    "receipt",
)


def is_valid_id(value: str) -> bool:
    """True when ``value`` can be a device or zone id (lower-case, safe in a topic and a path)."""
    return bool(_ID_RE.match(value))


def _check(value: str) -> str:
    if not is_valid_id(value):
        raise ValueError(f"invalid id for a topic: {value!r}")
    return value


def device_topic(device_id: str, kind: DeviceTopicKind) -> str:
    """Topic of one kind for one device, e.g. ``loalang/v1/device/d1/status``."""
    return f"{PREFIX}/device/{_check(device_id)}/{kind}"


def zone_cmd(zone_id: str) -> str:
    """Command topic shared by every device of a zone."""
    return f"{PREFIX}/zone/{_check(zone_id)}/cmd"


ALL_CMD = f"{PREFIX}/all/cmd"
CONTROLLER_STATUS = f"{PREFIX}/controller/status"
"""The one status topic agents before 0.9 read (kept, and re-asserted, for them)."""
CONTROLLER_STATUSES = f"{PREFIX}/controller/+/status"
"""Every controller's own status: an agent sends reports while any of them is online."""
CONTROLLER_ONLINE = b"online"
"""Retained on a controller's status topic while it is connected; agents flush reports then."""
CONTROLLER_OFFLINE = b"offline"
"""The controller's last-will (and what it says on a clean stop)."""


def controller_status(controller_id: str) -> str:
    """One controller's own retained status: another controller stopping cannot clobber it."""
    return f"{PREFIX}/controller/{_check(controller_id)}/status"


def parse_controller_status(topic: str) -> str | None:
    """The controller id of ``controller/{id}/status``, or None for any other topic."""
    parts = topic.split("/")
    if (
        len(parts) != 5
        or f"{parts[0]}/{parts[1]}" != PREFIX
        or parts[2] != "controller"
        or parts[4] != "status"
        or not is_valid_id(parts[3])
    ):
        return None
    return parts[3]


ALL_PLANS = f"{PREFIX}/device/+/plan"


def command_topic(target: str) -> str:
    """Command topic for a target string (``device:ID``, ``zone:ID`` or ``all``)."""
    if target == "all":
        return ALL_CMD
    kind, _, ident = target.partition(":")
    if kind == "device":
        return device_topic(ident, "cmd")
    if kind == "zone":
        return zone_cmd(ident)
    raise ValueError(f"invalid target: {target!r}")


def controller_subscriptions() -> list[str]:
    """What the controller subscribes to: everything agents report."""
    return [f"{PREFIX}/device/+/{kind}" for kind in ("status", "telemetry", "event", "ack")]


def agent_subscriptions(device_id: str, zones: list[str]) -> list[str]:
    """What an agent subscribes to: its command and plan topics, its zones' and the all one."""
    return [
        device_topic(device_id, "cmd"),
        device_topic(device_id, "plan"),
        *(zone_cmd(z) for z in zones),
        ALL_CMD,
    ]


class DeviceTopic(NamedTuple):
    device_id: str
    kind: str


def parse_device_topic(topic: str) -> DeviceTopic | None:
    """Split ``loalang/v1/device/{id}/{kind}`` into its parts, or None for any other topic."""
    parts = topic.split("/")
    if len(parts) != 5 or f"{parts[0]}/{parts[1]}" != PREFIX or parts[2] != "device":
        return None
    if not is_valid_id(parts[3]) or parts[4] not in DEVICE_TOPIC_KINDS:
        return None
    return DeviceTopic(parts[3], parts[4])


def is_plan_topic(topic: str) -> bool:
    """Whether ``topic`` is some device's retained plan topic."""
    parsed = parse_device_topic(topic)
    return parsed is not None and parsed.kind == "plan"


def client_id(name: str, password: str | None) -> str:
    """The MQTT client id of a session named ``name``, with a tag only the holder of the
    log-in's password can compute. Mosquitto binds a client id to its user name on every
    listener the controller writes; a NATS cluster cannot, so there the id itself must be
    something another credential cannot name (a session is taken over by its client id)."""
    if not password:
        return name
    tag = hmac.new(password.encode(), b"loalang mqtt client id", hashlib.sha256).hexdigest()
    return f"{name}-{tag[:16]}"
