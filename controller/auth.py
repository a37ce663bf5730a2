"""Who may do what: roles, permissions, password and token hashing. Pure except the hasher.

Deny by default: every API route names one permission (``http.py: Allow``) and a test
walks the app's routes so a route without one fails the suite.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Role(str, enum.Enum):
    broadcaster = "broadcaster"  # commune broadcaster: bulletins, sending, the routine
    approver = "approver"  # commune leadership: approves or rejects what broadcasters made
    technician = "technician"  # the fleet: devices, alarms, STOP
    admin = "admin"  # users, roles, zones, devices, the audit log
    province = "province"  # the provincial information system: reads the export API, nothing else


@dataclass(frozen=True)
class Principal:
    """Who acts: a person (username, roles), ``system`` (the bootstrap token) or a device."""

    username: str
    roles: frozenset[Role] = field(default_factory=frozenset)
    ip: str = ""

    @property
    def is_system(self) -> bool:
        return self.username == "system"


SYSTEM = "system"
SYSTEM_ROLES = frozenset({Role.admin})


B, A, T, ADMIN = Role.broadcaster, Role.approver, Role.technician, Role.admin
ALL = frozenset({B, A, T, ADMIN})
"""The station's people (every role but the province's machine account)."""

PERMISSIONS: dict[str, frozenset[Role]] = {
    "media.read": ALL,
    "media.upload": frozenset({B, A, ADMIN}),
    "speech.lexicon": frozenset({B, A, ADMIN}),  # the station's abbreviations
    "speech.settings": frozenset({ADMIN}),  # the station's default voice
    "station.settings": frozenset({ADMIN}),  # receivers' floor, the public page, the archive
    "broadcast.read": ALL,
    "broadcast.create": frozenset({B, A, ADMIN}),
    "broadcast.cancel": frozenset({B, A, ADMIN}),
    "broadcast.approve": frozenset({A, ADMIN}),
    "broadcast.confirm": frozenset({B, A, ADMIN}),  # the second person of an emergency
    "broadcast.stop": ALL,  # silencing is a safety action anyone on duty may take
    "sms.send": frozenset({B, A, ADMIN}),  # an SMS order sounds a pinned message (audited)
    "pinned.manage": frozenset({A, ADMIN}),  # what every cluster keeps for emergencies
    "live.start": frozenset({B, A, ADMIN}),  # a live voice is not held (it is audited)
    "live.end_any": frozenset({A, ADMIN}),  # end someone else's live broadcast
    "schedule.read": ALL,
    "schedule.write": frozenset({B, A, ADMIN}),
    "schedule.approve": frozenset({A, ADMIN}),
    "device.read": ALL,
    "device.control": frozenset({T, ADMIN}),  # volume, zones of a device
    "device.manage": frozenset({ADMIN}),  # register, retire, rotate credentials
    "zone.read": ALL,
    "zone.manage": frozenset({ADMIN}),
    "alarm.read": ALL,
    "alarm.ack": frozenset({T, ADMIN}),
    "event.read": ALL,
    "user.manage": frozenset({ADMIN}),
    "account.self": ALL,
    "audit.read": frozenset({ADMIN}),
    "keys.manage": frozenset({ADMIN}),  # rotate the key every loudspeaker trusts
    "report.read": ALL,  # the station's monthly report (page, CSV, PDF)
    "archive.read": ALL,  # what aired: the channel's recordings, each bulletin and its log
    "archive.export": frozenset({A, ADMIN, Role.province}),  # a signed ZIP of a period
    "export.read": frozenset({Role.province, ADMIN}),  # the provincial export API
    "metrics.read": frozenset({T, ADMIN}),  # Prometheus scrapes /metrics with a token
    "update.read": frozenset({T, ADMIN}),  # agent releases and their rollouts
    "update.manage": frozenset({ADMIN}),  # new code on every loudspeaker: like keys.manage
    "update.stop": frozenset({T, ADMIN}),  # halting a rollout is a safety action
}

SKIPS_APPROVAL = frozenset({A, ADMIN})
"""What these roles create is approved at once (never an emergency: that needs two people)."""


def hold_for(roles: frozenset[Role] | set[Role], emergency: bool) -> str | None:
    """What a new broadcast waits for: a second person (every emergency), an approver (a
    broadcaster's), or nothing."""
    if emergency:
        return "pending_confirmation"
    return None if skips_approval(roles) else "pending_approval"


def allowed(roles: frozenset[Role] | set[Role], permission: str) -> bool:
    """Whether any of ``roles`` holds ``permission``; unknown permissions are denied."""
    return bool(set(roles) & PERMISSIONS.get(permission, frozenset()))


def skips_approval(roles: frozenset[Role] | set[Role]) -> bool:
    return bool(set(roles) & SKIPS_APPROVAL)


_hasher = PasswordHasher()  # argon2id, the library's current parameters
MIN_PASSWORD = 10


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password shorter than {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token(prefix: str) -> str:
    """An API token: ``{prefix}_{random}``; only its SHA-256 is stored."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def token_hash(token: str) -> str:
    """Tokens are 256-bit random strings, so a plain SHA-256 is a sufficient verifier."""
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
