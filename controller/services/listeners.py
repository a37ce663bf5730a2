"""Who is tuned to the station's channel: Icecast asks the controller before each listener
(listener_add) and tells it when one leaves (listener_remove). A device listens with its own
log-in; anyone else only when the station lets the public listen. A stream-only receiver's
connections, from … to …, are its proof that it heard what aired."""

from __future__ import annotations

import logging
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import utcnow

from ..db.models import ListenerSession
from .accounts import AccountService
from .station import read as station_settings

log = logging.getLogger(__name__)


class Listened(BaseModel):
    connected_at: datetime
    disconnected_at: datetime | None


class ListenerRecords:
    def __init__(self, sessions: sessionmaker[Session], accounts: AccountService):
        self._sessions = sessions
        self._accounts = accounts

    def may_listen(self, mount: str, client: str, user: str, password: str) -> bool:
        """A device with its own log-in, or anyone when the station's channel is public;
        either way the connection is recorded (``client`` is Icecast's number for it)."""
        device_id = self._accounts.device_for_token(password) if password else None
        if device_id is not None and device_id != user:
            device_id = None
        with self._sessions.begin() as session:
            if device_id is None and (user or not station_settings(session).public_listening):
                return False  # a wrong log-in is refused even when the public may listen
            session.add(
                ListenerSession(
                    mount=mount[:120],
                    client=client[:40],
                    device_id=device_id,
                    connected_at=utcnow(),
                )
            )
        return True

    def left(self, client: str) -> None:
        """Icecast says listener ``client`` went (its newest open connection closes)."""
        with self._sessions.begin() as session:
            row = session.scalar(
                select(ListenerSession.id)
                .where(ListenerSession.client == client[:40])
                .where(ListenerSession.disconnected_at.is_(None))
                .order_by(ListenerSession.id.desc())
                .limit(1)
            )
            if row is not None:
                session.execute(
                    update(ListenerSession)
                    .where(ListenerSession.id == row)
                    .values(disconnected_at=utcnow())
                )

    def close_open(self) -> int:
        """Icecast (re)starts: every connection it held is gone, so none stays open (and its
        client numbers start again from 1, so no old record is closed by a new client)."""
        with self._sessions.begin() as session:
            closed = session.execute(
                update(ListenerSession)
                .where(ListenerSession.disconnected_at.is_(None))
                .values(disconnected_at=utcnow())
            ).rowcount
        return int(closed or 0)

    def of_device(self, device_id: str, limit: int = 20) -> list[Listened]:
        """A device's latest connections, newest first."""
        with self._sessions() as session:
            rows = session.scalars(
                select(ListenerSession)
                .where(ListenerSession.device_id == device_id)
                .order_by(ListenerSession.connected_at.desc())
                .limit(limit)
            )
            return [
                Listened(connected_at=r.connected_at, disconnected_at=r.disconnected_at)
                for r in rows
            ]
