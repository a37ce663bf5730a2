"""Rotating the controller's signing key without touching a single loudspeaker.

1. ``announce``: a next key is made and every device is told to trust it, by a command signed
   with the current key (``trust_key``, valid 7 days: a device offline meanwhile learns it
   when it returns). Enrolment configs carry both keys from now on.
2. ``promote``, once every device has acknowledged it (or ``force``): the next key signs every
   command from then on, the old one is retired by a command signed with the new one
   (``retire_key``: devices refuse it afterwards), and every plan is signed again.

A stolen key cannot be rotated away like this (the thief could announce a key of their own):
that is re-enrolment, docs/operations.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import RetireKeyCommand, TrustKeyCommand

from ..auth import Principal
from ..db.models import Command, Device, DeviceEvent
from ..domain.errors import Conflict
from ..fleet.commands import CommandPath
from ..keys import KeyRing
from .audit import AuditLog

log = logging.getLogger(__name__)


class SigningKeysOut(BaseModel):
    active: str = Field(description="key id that signs every command now")
    next: str | None = Field(None, description="announced, not yet signing")
    retired: list[str] = Field(default_factory=list, description="refused by devices told so")
    devices_ready: list[str] = Field(
        default_factory=list, description="devices that acknowledged the next key"
    )
    devices_waiting: list[str] = Field(
        default_factory=list, description="devices that have not yet"
    )


class SigningKeys:
    def __init__(
        self,
        keys: KeyRing,
        sessions: sessionmaker[Session],
        commands: CommandPath,
        audit: AuditLog,
        republish_plans: Callable[[], None],
    ):
        self._keys = keys
        self._sessions = sessions
        self._commands = commands
        self._audit = audit
        self._republish_plans = republish_plans

    def status(self) -> SigningKeysOut:
        ready, waiting = self._acknowledged()
        return SigningKeysOut(
            active=self._keys.active.kid,
            next=self._keys.next.kid if self._keys.next else None,
            retired=self._keys.retired(),
            devices_ready=ready,
            devices_waiting=waiting,
        )

    def announce(self, who: Principal) -> SigningKeysOut:
        """Make the next key (once) and tell every device to trust it."""
        nxt = self._keys.make_next()
        self._commands.send("all", TrustKeyCommand(kid=nxt.kid, key=nxt.public_b64))
        self._audit.record(who, "keys.announce", nxt.kid)
        log.warning("next signing key %s announced to every device", nxt.kid)
        return self.status()

    def promote(self, who: Principal, force: bool = False) -> SigningKeysOut:
        """The next key signs from now on; the old one is retired on every device."""
        if self._keys.next is None:
            raise Conflict("keys.no_next")
        _, waiting = self._acknowledged()
        if waiting and not force:
            raise Conflict(
                "keys.devices_waiting", count=len(waiting), devices=", ".join(waiting[:10])
            )
        old = self._keys.promote()
        self._commands.send("all", RetireKeyCommand(kid=old.kid))  # signed with the new key
        self._republish_plans()
        self._audit.record(
            who, "keys.promote", self._keys.active.kid, retired=old.kid, waiting=waiting
        )
        log.warning("signing key %s now signs; %s retired", self._keys.active.kid, old.kid)
        return self.status()

    def _acknowledged(self) -> tuple[list[str], list[str]]:
        """Devices that acknowledged the latest announcement of the next key, and the rest."""
        with self._sessions() as session:
            devices = sorted(session.scalars(select(Device.id).where(Device.retired.is_(False))))
            if self._keys.next is None:
                return [], []
            announced = session.scalars(
                select(Command)
                .where(Command.type == "trust_key")
                .order_by(Command.issued_at.desc())
            ).all()
            cmd_ids = {
                c.cmd_id for c in announced if c.data and self._keys.next.kid.encode() in c.data
            }
            if not cmd_ids:
                return [], devices
            since = min(c.issued_at for c in announced if c.cmd_id in cmd_ids)
            acked = {
                e.device_id
                for e in session.scalars(
                    select(DeviceEvent).where(DeviceEvent.type == "ack", DeviceEvent.ts >= since)
                )
                if e.payload.get("cmd_id") in cmd_ids and e.payload.get("accepted")
            }
        return [d for d in devices if d in acked], [d for d in devices if d not in acked]
