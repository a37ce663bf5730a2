"""Creating people and their tokens: one place for the API and the ``loalang user`` command."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import utcnow

from .auth import Role, hash_password, new_token, token_hash, verify_password
from .db.models import ApiToken, AuditEntry, User, WebSession
from .errors import ApiError

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


def check_username(value: str) -> str:
    if not USERNAME.match(value) or value == "system":
        raise ValueError("2–64 lowercase letters, digits, '.', '_' or '-' (not 'system')")
    return value


def find_user(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise ApiError(404, "user.not_found", name=username)
    return user


def create_user(sessions: sessionmaker[Session], username: str, password: str,
                roles: list[Role], display_name: str = "") -> User:
    """A new active account; the password is stored as an argon2id hash only."""
    check_username(username)
    password_hash = hash_password(password)
    with sessions.begin() as session:
        if session.scalars(select(User).where(User.username == username)).first():
            raise ApiError(409, "user.exists", name=username)
        user = User(username=username, display_name=display_name, password_hash=password_hash,
                    roles=sorted(r.value for r in set(roles)), active=True, created_at=utcnow())
        session.add(user)
        session.flush()
        session.expunge(user)
        return user


def issue_token(sessions: sessionmaker[Session], username: str, name: str = ""
                ) -> tuple[ApiToken, str]:
    """A personal API token (returned once; only its SHA-256 is stored)."""
    token = new_token("lt")
    with sessions.begin() as session:
        user = find_user(session, username)
        row = ApiToken(user_id=user.id, token_hash=token_hash(token), name=name,
                       created_at=utcnow(), revoked=False)
        session.add(row)
        session.flush()
        session.expunge(row)
        return row, token


@dataclass(frozen=True)
class Login:
    cookie: str  # goes to the browser; only its hash is stored
    csrf: str  # sent back by the page with every change (header X-CSRF-Token)
    username: str
    display_name: str
    roles: list[str]


def recent_failures(session: Session, username: str, minutes: int) -> int:
    """Failed logins for a name in the last minutes, counted from the audit log."""
    since = utcnow() - timedelta(minutes=minutes)
    return session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "auth.login", AuditEntry.outcome == "denied",
        AuditEntry.target == username[:200], AuditEntry.ts >= since)) or 0


def login(sessions: sessionmaker[Session], username: str, password: str, ip: str,
          hours: float) -> Login | None:
    """Check the password (argon2) and open a browser session; None if it does not match."""
    with sessions.begin() as session:
        user = session.scalars(select(User).where(User.username == username)).first()
        if user is None or not user.active or not verify_password(user.password_hash, password):
            return None
        now = utcnow()
        session.execute(delete(WebSession).where(WebSession.expires_at < now))
        cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        session.add(WebSession(id_hash=token_hash(cookie), user_id=user.id, csrf=csrf,
                               created_at=now, expires_at=now + timedelta(hours=hours), ip=ip))
        user.last_login_at = now
        return Login(cookie, csrf, user.username, user.display_name, list(user.roles))


def session_user(session: Session, cookie: str) -> WebSession | None:
    row = session.get(WebSession, token_hash(cookie))
    if row is None or row.expires_at < utcnow() or not row.user.active:
        return None
    return row
