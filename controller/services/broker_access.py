"""Keeps the broker's password file and ACL in step with the device registry, and reloads
the broker: a device registered can log in at once, a rotated or retired credential is
refused at once. For the Mosquitto the controller runs (``broker = "mosquitto"``) or one the
operator runs (``mqtt_password_file``/``mqtt_acl_file`` and a ``mqtt_reload_command``)."""

from __future__ import annotations

import logging
import shlex
import subprocess
import threading
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ..broker.access import BrokerUser, acl_file, mosquitto_hash, password_file
from ..db.models import Device
from ..fleet.gateway import BrokerLogin
from ..fsutil import secret_file, write_private
from ..settings import Settings

log = logging.getLogger(__name__)

CONTROLLER_USER = "loalang-controller"


class BrokerAccess:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session],
                 reload: Callable[[], None] = lambda: None):
        self._settings = settings
        self._sessions = sessions
        self._reload_managed = reload
        managed = settings.broker == "mosquitto"
        self.enabled = bool(settings.mqtt_password_file) or (
            managed if settings.broker_access is None else settings.broker_access)
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

    def login(self) -> BrokerLogin:
        """How the controller's two sessions log in."""
        s = self._settings
        return BrokerLogin(s.mqtt_host, s.mqtt_port, self.username, self.command_username,
                           self.password, str(s.mqtt_ca_file) if s.mqtt_ca_file else None)

    def device_hash(self, token: str) -> str | None:
        """What the registry keeps of a new device token for the broker (None: access off)."""
        return mosquitto_hash(token) if self.enabled else None

    def sync(self) -> None:
        """Write both files from the registry (retired devices left out) and reload."""
        if not self.enabled:
            return
        assert self.username and self.password
        with self._sessions() as session:
            devices = [BrokerUser(d.id, d.mqtt_password_hash, tuple(z.id for z in d.zones))
                       for d in session.scalars(select(Device).where(
                           Device.retired.is_(False), Device.mqtt_password_hash.is_not(None)))
                       if d.mqtt_password_hash]
        digest = mosquitto_hash(self.password)
        controllers = [BrokerUser(self.username, digest)]
        if self.command_username and self.command_username != self.username:
            controllers.append(BrokerUser(self.command_username, digest))
        with self._lock:
            # 0640: an operator's Mosquitto reads them as the controller's group
            write_private(self.password_path, password_file(controllers, devices).encode(),
                          0o640)
            write_private(self.acl_path, acl_file(controllers, devices).encode(), 0o640)
            self._reload()
        log.info("broker access: %d devices and the controller", len(devices))

    def _reload(self) -> None:
        command = self._settings.mqtt_reload_command
        if command:
            done = subprocess.run(shlex.split(command), capture_output=True, text=True,
                                  timeout=30)
            if done.returncode != 0:
                log.error("broker reload (%s) failed: %s", command, done.stderr.strip()[-300:])
        else:
            self._reload_managed()


