"""Who may try a password now: failed log-ins counted from the audit log per name and address,
per address, per name and for everyone (``domain/login_throttle.py`` decides), and the signed
"known device" cookie a browser gets for a name it logged in to.

The counts come from the audit log, so every controller of one database sees the same ones and
an admin's unlock (``user.unlock``) clears a name's. Attempts held back are audited as
``throttled`` and not counted: only a password actually tried and wrong counts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
import threading
from collections import defaultdict, deque
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import utcnow

from ..db.models import AuditEntry, SiteSetting
from ..domain.login_throttle import Count, Failures, Limits, Rule, Verdict, judge

KNOWN_COOKIE_PREFIX = "loalang_known_"
KNOWN_KEY_SETTING = "login_known_device_key"


def known_cookie_name(username: str) -> str:
    """One cookie per name a browser logged in to (a shared station PC knows several)."""
    return KNOWN_COOKIE_PREFIX + hashlib.sha256(username.encode()).hexdigest()[:12]


class LoginThrottle:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        window_minutes: int,
        name_and_address_hard: int,
        slowdown_max_s: float = 300.0,
    ):
        self._sessions = sessions
        default = Limits()
        self.limits = Limits(
            window=timedelta(minutes=window_minutes),
            name_and_address=Rule(
                soft=min(3, name_and_address_hard), hard=name_and_address_hard, max_s=slowdown_max_s
            ),
            address=dataclasses.replace(default.address, max_s=slowdown_max_s),
            name=dataclasses.replace(default.name, max_s=slowdown_max_s),
            everyone=dataclasses.replace(
                default.everyone, max_s=min(slowdown_max_s, default.everyone.max_s)
            ),
            known_device=dataclasses.replace(default.known_device, max_s=slowdown_max_s),
        )
        self._key: bytes | None = None
        self._known_failures: dict[str, deque[datetime]] = defaultdict(deque)
        self._lock = threading.Lock()

    # --- the verdict -----------------------------------------------------------------------

    def verdict(self, username: str, ip: str, known: str | None) -> Verdict:
        """May ``username`` be tried from ``ip`` now (``known``: the browser's verified known
        device id for this name, or None)?"""
        now = utcnow()
        since = now - self.limits.window
        with self._sessions() as session:
            name_since = max(since, self._unlocked(session, username) or since)
            failures = Failures(
                name_and_address=_count(session, name_since, target=username, ip=ip),
                address=_count(session, since, ip=ip),
                name=_count(session, name_since, target=username),
                everyone=_count(session, since),
                known_device=self._known_count(known, since) if known else Count(),
            )
        return judge(failures, known is not None, now, self.limits)

    def failed(self, known: str | None) -> None:
        """A wrong password from a known device (the audit log counts the others)."""
        if known is None:
            return
        with self._lock:
            self._known_failures[known].append(utcnow())

    def _known_count(self, known: str, since: datetime) -> Count:
        with self._lock:
            times = self._known_failures[known]
            while times and times[0] < since:
                times.popleft()
            return Count(len(times), times[-1] if times else None)

    @staticmethod
    def _unlocked(session: Session, username: str) -> datetime | None:
        return session.scalar(
            select(func.max(AuditEntry.ts)).where(
                AuditEntry.action == "user.unlock", AuditEntry.target == username[:200]
            )
        )

    def locked_names(self) -> set[str]:
        """Names held back now — slowed or refused from some address, or slowed from
        everywhere: the accounts page offers an admin to unlock them."""
        since = utcnow() - self.limits.window
        hard = self.limits.name_and_address.soft
        locked = set()
        with self._sessions() as session:
            names = set(
                session.scalars(
                    select(AuditEntry.target)
                    .where(
                        AuditEntry.action == "auth.login",
                        AuditEntry.outcome == "denied",
                        AuditEntry.ts >= since,
                    )
                    .distinct()
                )
            )
            for name in names:
                name_since = max(since, self._unlocked(session, name) or since)
                per_address = [
                    n
                    for (n,) in session.execute(
                        select(func.count())
                        .where(
                            AuditEntry.action == "auth.login",
                            AuditEntry.outcome == "denied",
                            AuditEntry.target == name,
                            AuditEntry.ts >= name_since,
                        )
                        .group_by(AuditEntry.ip)
                    )
                ]
                if any(n >= hard for n in per_address) or sum(per_address) >= self.limits.name.soft:
                    locked.add(name)
        return locked

    # --- known devices ---------------------------------------------------------------------

    def known_cookie(self, username: str) -> str:
        """A new known-device value for a browser that just logged in as ``username``."""
        nonce = secrets.token_urlsafe(12)
        return f"{nonce}.{self._sign(username, nonce)}"

    def known_device(self, username: str, cookie: str | None) -> str | None:
        """The device id of a valid known-device cookie for this name, else None."""
        if not cookie or "." not in cookie or len(cookie) > 200:
            return None
        nonce, _, sig = cookie.partition(".")
        return nonce if hmac.compare_digest(sig, self._sign(username, nonce)) else None

    def _sign(self, username: str, nonce: str) -> str:
        return hmac.new(self._secret(), f"{username}|{nonce}".encode(), hashlib.sha256).hexdigest()[
            :32
        ]

    def _secret(self) -> bytes:
        """One key for every controller of the database, made on first use."""
        if self._key is None:
            with self._sessions.begin() as session:
                row = session.get(SiteSetting, KNOWN_KEY_SETTING)
                if row is None:
                    row = SiteSetting(key=KNOWN_KEY_SETTING, value=secrets.token_hex(32))
                    session.add(row)
                self._key = bytes.fromhex(str(row.value))
        return self._key


def _count(
    session: Session, since: datetime, *, target: str | None = None, ip: str | None = None
) -> Count:
    query = select(func.count(), func.max(AuditEntry.ts)).where(
        AuditEntry.action == "auth.login", AuditEntry.outcome == "denied", AuditEntry.ts >= since
    )
    if target is not None:
        query = query.where(AuditEntry.target == target[:200])
    if ip is not None:
        query = query.where(AuditEntry.ip == ip)
    n, last = session.execute(query).one()
    return Count(n or 0, last)
