"""The append-only audit log: who did what, when, from where (triggers refuse UPDATE/DELETE)."""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import utcnow

from ..auth import Principal
from ..db.models import AuditEntry
from .views import AuditOut

KINDS = (
    "auth.",
    "broadcast.",
    "media.",
    "schedule.",
    "device.",
    "zone.",
    "user.",
    "token.",
    "alarm.",
    "station.",
    "archive.",
)
"""Action prefixes a reader filters by."""


ANONYMOUS_EVERY_S = 60.0
"""Anonymous refusals (a bad token) are written at most once a minute per address and path:
the rest are counted into the next row, so nobody can fill the log that cannot be pruned."""


class AuditLog:
    def __init__(self, sessions: sessionmaker[Session]):
        self._sessions = sessions
        self._throttle: dict[tuple[str, str, str], tuple[float, int]] = {}
        self._throttle_lock = threading.Lock()

    def record_anonymous(self, action: str, target: str, ip: str) -> None:
        """A refusal of someone unknown: one row per address, action and target a minute,
        carrying how many more there were (``repeated``)."""
        key = (ip, action, target[:200])
        now = time.monotonic()
        with self._throttle_lock:
            last, skipped = self._throttle.get(key, (0.0, 0))
            if last and now - last < ANONYMOUS_EVERY_S:
                self._throttle[key] = (last, skipped + 1)
                return
            self._throttle[key] = (now, 0)
            if len(self._throttle) > 10_000:  # forget the quiet ones
                self._throttle = {
                    k: v for k, v in self._throttle.items() if now - v[0] < ANONYMOUS_EVERY_S
                }
        self.record(
            "anonymous", action, target, "denied", ip, **({"repeated": skipped} if skipped else {})
        )

    def record(
        self,
        who: Principal | str,
        action: str,
        target: str = "",
        outcome: str = "ok",
        ip: str = "",
        **detail: Any,
    ) -> None:
        """Append one line (its own transaction: kept even if the action then fails)."""
        actor = who if isinstance(who, str) else who.username
        ip = ip or ("" if isinstance(who, str) else who.ip)
        with self._sessions.begin() as session:
            session.add(
                AuditEntry(
                    ts=utcnow(),
                    actor=actor[:64],
                    action=action,
                    target=target[:200],
                    outcome=outcome,
                    ip=ip,
                    detail=detail,
                )
            )

    def rows(
        self, actor: str | None = None, action: str | None = None, limit: int = 500
    ) -> list[AuditOut]:
        """Newest first; ``action`` is a prefix (``broadcast.`` → every broadcast action)."""
        with self._sessions() as session:
            query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
            if actor:
                query = query.where(AuditEntry.actor == actor)
            if action:
                query = query.where(AuditEntry.action.startswith(action))
            return [AuditOut.model_validate(r) for r in session.scalars(query)]

    def actors(self) -> list[str]:
        with self._sessions() as session:
            return list(
                session.scalars(select(AuditEntry.actor).distinct().order_by(AuditEntry.actor))
            )
