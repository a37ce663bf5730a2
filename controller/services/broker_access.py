"""Keeps the broker's password file and ACL in step with the device registry, and reloads
the broker: a device registered can log in at once, a rotated or retired credential is
refused at once. For the Mosquitto the controller runs (``broker = "mosquitto"``), one the
operator runs (``mqtt_password_file``/``mqtt_acl_file`` and a ``mqtt_reload_command``), or a
NATS cluster (``nats_authorization_file``, included by every node, and a reload command)."""

from __future__ import annotations

import logging
import shlex
import subprocess
import threading
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ..broker.access import (
    BrokerUser,
    acl_file,
    device_reads,
    is_nats_hash,
    mosquitto_hash,
    nats_authorization,
    nats_hash,
    password_file,
)
from ..db.models import Device
from ..fleet.gateway import BrokerLogin
from ..fsutil import secret_file, write_private
from ..settings import Settings

log = logging.getLogger(__name__)

CONTROLLER_USER = "loalang-controller"


class BrokerAccess:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        reload: Callable[[], None] = lambda: None,
    ):
        self._settings = settings
        self._sessions = sessions
        self._reload_managed = reload
        managed = settings.broker == "mosquitto"
        self.nats_path = settings.nats_authorization_file
        self.enabled = (
            bool(settings.mqtt_password_file)
            or bool(self.nats_path)
            or (managed if settings.broker_access is None else settings.broker_access)
        )
        self._hash = nats_hash if self.nats_path else mosquitto_hash
        workdir = settings.data_dir / "mosquitto"
        self.password_path = settings.mqtt_password_file or workdir / "passwords"
        self.acl_path = settings.mqtt_acl_file or workdir / "acl"
        self.username = settings.mqtt_username or (CONTROLLER_USER if self.enabled else None)
        # the command session's own login where the broker binds client ids to user names
        self.command_username = f"{self.username}-cmd" if self.enabled else self.username
        self.password = settings.mqtt_password
        if self.enabled and not self.password:
            self.password = secret_file(workdir / "controller-password")
        self._lock = threading.Lock()
        self._reads: dict[str, frozenset[str]] = {}

    def reads_of(self, user: str) -> frozenset[str] | None:
        """What a device may subscribe to, as last written (None: not a device's log-in)."""
        return self._reads.get(user)

    def login(self) -> BrokerLogin:
        """How the controller's two sessions log in."""
        s = self._settings
        return BrokerLogin(
            s.mqtt_host,
            s.mqtt_port,
            self.username,
            self.command_username,
            self.password,
            str(s.mqtt_ca_file) if s.mqtt_ca_file else None,
        )

    def device_hash(self, token: str) -> str | None:
        """What the registry keeps of a new device token for the broker (None: access off)."""
        return self._hash(token) if self.enabled else None

    def sync(self) -> None:
        """Write both files from the registry (retired devices left out) and reload."""
        if not self.enabled:
            return
        assert self.username
        assert self.password
        with self._sessions() as session:
            devices = [
                BrokerUser(d.id, d.mqtt_password_hash, tuple(z.id for z in d.zones))
                for d in session.scalars(
                    select(Device).where(
                        Device.retired.is_(False), Device.mqtt_password_hash.is_not(None)
                    )
                )
                if d.mqtt_password_hash
            ]
        self._reads = {d.username: frozenset(device_reads(d.username, d.zones)) for d in devices}
        digest = self._hash(self.password)
        controllers = [BrokerUser(self.username, digest)]
        if self.command_username and self.command_username != self.username:
            controllers.append(BrokerUser(self.command_username, digest))
        if self.nats_path:
            self._sync_nats(controllers, devices)
            return
        with self._lock:
            # 0640: an operator's Mosquitto reads them as the controller's group
            write_private(self.password_path, password_file(controllers, devices).encode(), 0o640)
            write_private(self.acl_path, acl_file(controllers, devices).encode(), 0o640)
            self._reload()
        log.info("broker access: %d devices and the controller", len(devices))

    def _sync_nats(self, controllers: list[BrokerUser], devices: list[BrokerUser]) -> None:
        assert self.nats_path is not None
        usable = [d for d in devices if is_nats_hash(d.password_hash)]
        if len(usable) < len(devices):  # registered while the broker was a Mosquitto
            log.warning(
                "broker access: %d devices have a Mosquitto password hash NATS cannot "
                "check; rotate their tokens (POST /api/devices/{id}/rotate-token)",
                len(devices) - len(usable),
            )
        with self._lock:
            write_private(self.nats_path, nats_authorization(controllers, usable).encode(), 0o640)
            self._reload()
        log.info("broker access (NATS): %d devices and the controller", len(usable))

    def _reload(self) -> None:
        command = self._settings.mqtt_reload_command
        if command:
            done = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=30)
            if done.returncode != 0:
                log.error("broker reload (%s) failed: %s", command, done.stderr.strip()[-300:])
        else:
            self._reload_managed()
