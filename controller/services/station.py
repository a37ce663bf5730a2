"""The station's own settings, changed from its admin page at run time (not the deployment's
environment): a home receiver's emergency floor, whether bulletins are public by default and
the channel may be heard by anyone, how long the archive keeps what aired. Kept in
``site_settings``; every change is audited with what it was before."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session, sessionmaker

from ..auth import Principal
from ..db.models import SiteSetting
from .audit import AuditLog

KEY = "station"


class StationSettings(BaseModel):
    """What an admin sets for the station (unknown keys refused)."""

    model_config = ConfigDict(extra="forbid")

    receiver_floor: int = Field(
        60,
        ge=0,
        le=100,
        description="an emergency plays on a home receiver at least this loud (percent of its "
        "indoor scale), even turned down or off",
    )
    public_by_default: bool = Field(
        True, description="a new bulletin is on the public page unless marked internal"
    )
    public_listening: bool = Field(
        True, description="anyone may listen to the station's channel (else devices only)"
    )
    archive_months: int = Field(
        12, ge=1, le=120, description="the archive keeps what aired this many months"
    )


class StationService:
    """Reads and changes the station's settings (one small row)."""

    def __init__(self, sessions: sessionmaker[Session], audit: AuditLog):
        self._sessions = sessions
        self._audit = audit
        # called with the names of the settings a change altered (the pinned set carries the
        # receivers' floor, so it is sent again when that changes)
        self.listeners: list[Callable[[set[str]], None]] = []

    def get(self) -> StationSettings:
        with self._sessions() as session:
            return read(session)

    def change(self, who: Principal, **changes: Any) -> StationSettings:
        """Some settings changed (validated as a whole: a bad value changes nothing)."""
        with self._sessions.begin() as session:
            before = read(session)
            after = StationSettings.model_validate({**before.model_dump(), **changes})
            session.merge(SiteSetting(key=KEY, value=after.model_dump()))
        changed = {
            name: {"before": getattr(before, name), "after": getattr(after, name)}
            for name in StationSettings.model_fields
            if getattr(before, name) != getattr(after, name)
        }
        if changed:
            self._audit.record(who, "station.settings", KEY, **changed)
            for listener in self.listeners:
                listener(set(changed))
        return after


def read(session: Session) -> StationSettings:
    """The stored settings over the defaults (a value no longer valid falls back to them)."""
    row = session.get(SiteSetting, KEY)
    stored = dict(row.value) if row is not None and isinstance(row.value, dict) else {}
    known = {k: v for k, v in stored.items() if k in StationSettings.model_fields}
    try:
        return StationSettings.model_validate(known)
    except ValueError:
        return StationSettings()
