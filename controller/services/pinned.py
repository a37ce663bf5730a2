"""The station's pinned emergency messages: a small set every cluster keeps on disk (a signed
``pin`` command), played on a signed SMS when the data link is gone (``sms_orders.py``).

Each change makes a new version of the whole set, sent to every cluster; a leader job sends
it again to a cluster that reports an older one, and raises ``pinned_missing`` for one that
still lacks it long after the change (cleared once it holds it).
"""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import PinCommand, utcnow
from protocol.messages import PinnedMessage as PinnedWire

from ..auth import Principal
from ..cap.pinned import MAX_WORDS, clean_words
from ..db.models import Alarm, Device, Media, SiteSetting
from ..db.storm import PinnedMessage
from ..domain.device import DeviceStatus
from ..domain.errors import Invalid, NotFound
from ..fleet.commands import CommandPath
from .audit import AuditLog
from .broadcasting.records import media_ref
from .station import read as station_settings

log = logging.getLogger(__name__)

VERSION_KEY = "pinned_version"
CHANGED_KEY = "pinned_changed_at"
MISSING = "pinned_missing"
"""The controller's alarm: an online cluster without the current set."""
RESEND_S = 600.0
"""A cluster that reports an older set is sent the current one at most this often."""
ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,15}$")


class PinnedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    media_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    position: int = Field(0, ge=0, le=99)
    cap_words: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        default_factory=list,
        max_length=MAX_WORDS,
        description="words of a CAP alert's event or headline that sound this message at once",
    )


class PinnedOut(BaseModel):
    id: str
    title: str
    media_sha256: str
    duration_ms: int
    position: int
    cap_words: list[str]
    updated_at: datetime
    updated_by: str


class PinnedHolding(BaseModel):
    device_id: str
    name: str
    status: str
    held_version: int | None = Field(description="the set the cluster holds whole on disk")
    current: bool
    has_phone: bool


class PinnedSetOut(BaseModel):
    version: int = Field(description="0 until a message is pinned")
    changed_at: datetime | None
    messages: list[PinnedOut]
    devices: list[PinnedHolding]


def held_version(device: Device) -> int | None:
    value = (device.last_health or {}).get("pinned_version")
    return value if isinstance(value, int) else None


class PinnedService:
    def __init__(self, sessions: sessionmaker[Session], commands: CommandPath, audit: AuditLog):
        self._sessions = sessions
        self._commands = commands
        self._audit = audit
        self._sent_at: dict[str, float] = {}  # device → when the set was last sent to it

    # --- reading ------------------------------------------------------------------------

    def messages(self) -> list[PinnedOut]:
        """The pinned messages in their order (what an SMS order may name)."""
        with self._sessions() as session:
            return _messages(session)

    def current(self) -> PinnedSetOut:
        """The set and which version every cluster holds (the API's and pages' view)."""
        with self._sessions() as session:
            version, changed = _version(session)
            devices = session.scalars(
                select(Device).where(Device.retired.is_(False)).order_by(Device.id)
            ).all()
            return PinnedSetOut(
                version=version,
                changed_at=changed,
                messages=_messages(session),
                devices=[
                    PinnedHolding(
                        device_id=d.id,
                        name=d.name,
                        status=d.status.value,
                        held_version=held_version(d),
                        current=version == 0 or held_version(d) == version,
                        has_phone=bool(d.phone),
                    )
                    for d in devices
                ],
            )

    def version(self) -> int:
        """The current set's version (0: nothing pinned)."""
        with self._sessions() as session:
            return _version(session)[0]

    # --- changing -----------------------------------------------------------------------

    def put(self, who: Principal, message_id: str, data: PinnedIn) -> PinnedSetOut:
        """Pin (or replace) one message: a new version of the set, sent to every cluster."""
        if not ID.match(message_id):
            raise Invalid("pinned.bad_id", id=message_id)
        with self._sessions.begin() as session:
            if session.get(Media, data.media_sha256) is None:
                raise NotFound("media.not_found", sha256=data.media_sha256)
            row = session.get(PinnedMessage, message_id)
            if row is None:
                if session.scalar(select(PinnedMessage.id).offset(31).limit(1)) is not None:
                    raise Invalid("pinned.too_many", limit=32)
                row = PinnedMessage(id=message_id)
                session.add(row)
            row.title = data.title.strip()
            row.media_sha256 = data.media_sha256
            row.position = data.position
            row.cap_words = clean_words(data.cap_words)
            row.updated_at = utcnow()
            row.updated_by = who.username
            _bump(session)
        self._audit.record(who, "pinned.put", message_id)
        self.send_all()
        return self.current()

    def remove(self, who: Principal, message_id: str) -> PinnedSetOut:
        with self._sessions.begin() as session:
            row = session.get(PinnedMessage, message_id)
            if row is None:
                raise NotFound("pinned.not_found", id=message_id)
            session.delete(row)
            _bump(session)
        self._audit.record(who, "pinned.remove", message_id)
        self.send_all()
        return self.current()

    def command(self) -> PinCommand | None:
        """The current set as the signed command carries it (None: nothing pinned yet)."""
        with self._sessions() as session:
            version, _ = _version(session)
            if version == 0:
                return None
            rows = session.scalars(
                select(PinnedMessage).order_by(PinnedMessage.position, PinnedMessage.id)
            ).all()
            messages = [
                PinnedWire(
                    id=p.id, title=p.title, media=media_ref(session.get(Media, p.media_sha256))
                )
                for p in rows
            ]
            floor = station_settings(session).receiver_floor
        return PinCommand(version=version, messages=messages, receiver_floor=floor)

    def station_changed(self, names: set[str]) -> None:
        """The set carries the receivers' floor: a new floor goes out with it at once."""
        if "receiver_floor" in names:
            self.send_all()

    def send_all(self) -> None:
        command = self.command()
        if command is None:
            return
        self._commands.send("all", command)
        now = time.monotonic()
        with self._sessions() as session:  # an offline cluster missed it: the tick resends
            for device_id in session.scalars(
                select(Device.id).where(
                    Device.retired.is_(False), Device.status == DeviceStatus.online
                )
            ):
                self._sent_at[device_id] = now

    # --- keeping every cluster current (leader job) -------------------------------------

    def tick(self, alarm_after_min: float) -> None:
        """Send the set again to an online cluster that reports an older one (a cluster
        enrolled since, or offline when it changed); raise or clear ``pinned_missing``."""
        command = self.command()
        if command is None:
            return
        now = utcnow()
        behind: list[str] = []
        with self._sessions.begin() as session:
            _, changed = _version(session)
            open_ = {
                a.device_id: a
                for a in session.scalars(
                    select(Alarm).where(Alarm.key == MISSING, Alarm.cleared_at.is_(None))
                )
            }
            for d in session.scalars(select(Device).where(Device.retired.is_(False))):
                held = held_version(d)
                if held == command.version:
                    if d.id in open_:
                        open_[d.id].cleared_at = now
                    continue
                if d.status != DeviceStatus.online:
                    continue
                behind.append(d.id)
                late = changed is not None and now - changed > timedelta(minutes=alarm_after_min)
                if late and d.id not in open_:
                    session.add(
                        Alarm(
                            device_id=d.id,
                            key=MISSING,
                            code=MISSING,
                            raised_at=now,
                            occurrences=1,
                            detail=f"v{held or 0} < v{command.version}",
                        )
                    )
        clock = time.monotonic()
        for device_id in behind:
            if clock - self._sent_at.get(device_id, -RESEND_S) >= RESEND_S:
                self._sent_at[device_id] = clock
                log.info("pinned set %d sent again to %s", command.version, device_id)
                self._commands.send(f"device:{device_id}", command)


def _messages(session: Session) -> list[PinnedOut]:
    rows = session.execute(
        select(PinnedMessage, Media.duration_ms)
        .join(Media)
        .order_by(PinnedMessage.position, PinnedMessage.id)
    ).all()
    return [
        PinnedOut(
            id=p.id,
            title=p.title,
            media_sha256=p.media_sha256,
            duration_ms=duration,
            position=p.position,
            cap_words=list(p.cap_words or []),
            updated_at=p.updated_at,
            updated_by=p.updated_by,
        )
        for p, duration in rows
    ]


def _version(session: Session) -> tuple[int, datetime | None]:
    version = session.get(SiteSetting, VERSION_KEY)
    changed = session.get(SiteSetting, CHANGED_KEY)
    return (
        int(version.value) if version is not None else 0,
        datetime.fromisoformat(changed.value) if changed is not None else None,
    )


def _bump(session: Session) -> None:
    version, _ = _version(session)
    session.merge(SiteSetting(key=VERSION_KEY, value=version + 1))
    session.merge(SiteSetting(key=CHANGED_KEY, value=utcnow().isoformat()))
