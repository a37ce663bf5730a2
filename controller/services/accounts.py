"""People: accounts, roles, API tokens and browser logins — for the API, the pages and the
``loalang user`` command alike."""

from __future__ import annotations

import dataclasses
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import utcnow

from ..auth import (
    SYSTEM,
    SYSTEM_ROLES,
    Principal,
    Role,
    hash_password,
    new_token,
    token_hash,
    tokens_equal,
    verify_password,
)
from ..db.models import ApiToken, Device, User, WebSession
from ..domain.errors import Conflict, Invalid, Locked, NotAllowed, NotFound, Unauthenticated
from .audit import AuditLog
from .logins import LoginThrottle
from .views import TokenOut, UserOut

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 10


def check_username(value: str) -> str:
    if not USERNAME.match(value) or value == "system":
        raise ValueError("2–64 lowercase letters, digits, '.', '_' or '-' (not 'system')")
    return value


def find_user(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound("user.not_found", name=username)
    return user


def create_user(
    sessions: sessionmaker[Session],
    username: str,
    password: str,
    roles: list[Role],
    display_name: str = "",
) -> User:
    """A new active account; the password is stored as an argon2id hash only."""
    check_username(username)
    password_hash = hash_password(password)
    with sessions.begin() as session:
        if session.scalars(select(User).where(User.username == username)).first():
            raise Conflict("user.exists", name=username)
        user = User(
            username=username,
            display_name=display_name,
            password_hash=password_hash,
            roles=sorted(r.value for r in set(roles)),
            active=True,
            created_at=utcnow(),
        )
        session.add(user)
        session.flush()
        session.expunge(user)
        return user


def issue_token(
    sessions: sessionmaker[Session], username: str, name: str = ""
) -> tuple[ApiToken, str]:
    """A personal API token (returned once; only its SHA-256 is stored)."""
    token = new_token("lt")
    with sessions.begin() as session:
        user = find_user(session, username)
        row = ApiToken(
            user_id=user.id,
            token_hash=token_hash(token),
            name=name,
            created_at=utcnow(),
            revoked=False,
        )
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
    known_cookie: str = ""  # the browser keeps it: this name logged in from here before


def login(
    sessions: sessionmaker[Session], username: str, password: str, ip: str, hours: float
) -> Login | None:
    """Check the password (argon2) and open a browser session; None if it does not match."""
    with sessions.begin() as session:
        user = session.scalars(select(User).where(User.username == username)).first()
        if user is None or not user.active or not verify_password(user.password_hash, password):
            return None
        now = utcnow()
        session.execute(delete(WebSession).where(WebSession.expires_at < now))
        cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        session.add(
            WebSession(
                id_hash=token_hash(cookie),
                user_id=user.id,
                csrf=csrf,
                created_at=now,
                expires_at=now + timedelta(hours=hours),
                ip=ip,
            )
        )
        user.last_login_at = now
        return Login(cookie, csrf, user.username, user.display_name, list(user.roles))


def session_user(session: Session, cookie: str) -> WebSession | None:
    row = session.get(WebSession, token_hash(cookie))
    if row is None or row.expires_at < utcnow() or not row.user.active:
        return None
    return row


def user_out(user: User) -> UserOut:
    return UserOut(
        username=user.username,
        display_name=user.display_name,
        roles=[Role(r) for r in user.roles],
        active=user.active,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


@dataclass(frozen=True)
class SessionPrincipal:
    principal: Principal
    csrf: str


TOKEN_USE_RESOLUTION = timedelta(minutes=1)


class AccountService:
    """Accounts and the credentials people and devices present."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        audit: AuditLog,
        api_token: str,
        lockout_failures: int,
        lockout_minutes: int,
        session_hours: float,
        slowdown_max_s: float = 300.0,
    ):
        self._sessions = sessions
        self._audit = audit
        self._api_token = api_token
        self.throttle = LoginThrottle(sessions, lockout_minutes, lockout_failures, slowdown_max_s)
        self._session_hours = session_hours

    # --- who is calling --------------------------------------------------------------------

    def for_token(self, token: str, ip: str) -> Principal | None:
        """The person (or ``system``) behind a bearer token; None if it is not valid."""
        if tokens_equal(token, self._api_token):
            return Principal(SYSTEM, SYSTEM_ROLES, ip)
        with self._sessions() as session:
            row = session.scalars(
                select(ApiToken).where(ApiToken.token_hash == token_hash(token))
            ).first()
            if row is None or row.revoked or not row.user.active:
                return None
            principal = Principal(row.user.username, frozenset(Role(r) for r in row.user.roles), ip)
            token_id, last_used = row.id, row.last_used_at
        now = utcnow()
        if last_used is None or now - last_used > TOKEN_USE_RESOLUTION:
            # "last used" to the minute is plenty, and spares the single writer a write per call
            with self._sessions.begin() as session:
                session.get(ApiToken, token_id).last_used_at = now  # type: ignore[union-attr]
        return principal

    def for_cookie(self, cookie: str, ip: str) -> SessionPrincipal | None:
        """The person behind a browser session cookie, with the CSRF token its changes carry."""
        with self._sessions() as session:
            row = session_user(session, cookie)
            if row is None:
                return None
            return SessionPrincipal(
                Principal(row.user.username, frozenset(Role(r) for r in row.user.roles), ip),
                row.csrf,
            )

    def device_for_token(self, token: str) -> str | None:
        """Device tokens read ``{device_id}.{secret}``; only the secret's hash is stored."""
        device_id, _, secret = token.partition(".")
        if not secret:
            return None
        with self._sessions() as session:
            device = session.get(Device, device_id)
            if (
                device is None
                or device.retired
                or not tokens_equal(device.token_hash, token_hash(secret))
            ):
                return None
            return device.id

    # --- browser logins --------------------------------------------------------------------

    def attempt_login(
        self, username: str, password: str, ip: str, known_cookie: str | None = None
    ) -> Login:
        """Same answer for an unknown name and a wrong password. Attempts are slowed and then
        refused per name and address, per address, and slowed per name and for everyone
        (``services/logins.py``); a browser that logged in to this name before
        (``known_cookie``) is held back only by its own failures. Every attempt is in the
        audit log (held-back ones as ``throttled``)."""
        known = self.throttle.known_device(username, known_cookie)
        verdict = self.throttle.verdict(username, ip, known)
        if not verdict.allowed:
            assert verdict.scope is not None
            self._audit.record(
                username[:64],
                "auth.login",
                username,
                "throttled",
                ip,
                scope=verdict.scope.value,
                retry_after_s=verdict.retry_after_s,
                known_device=known is not None,
            )
            raise Locked(
                "auth.locked" if verdict.refused else "auth.slowed",
                minutes=max(1, round(verdict.retry_after_s / 60)),
                seconds=verdict.retry_after_s,
            )
        result = login(self._sessions, username, password, ip, self._session_hours)
        if result is None:
            self._audit.record(
                username[:64], "auth.login", username, "denied", ip, known_device=known is not None
            )
            self.throttle.failed(known)
            raise Unauthenticated("auth.bad_login")
        self._audit.record(
            result.username, "auth.login", result.username, "ok", ip, known_device=known is not None
        )
        return dataclasses.replace(
            result,
            known_cookie=known_cookie
            if known and known_cookie
            else self.throttle.known_cookie(result.username),
        )

    def end_session(self, cookie: str, ip: str) -> None:
        with self._sessions.begin() as session:
            row = session.get(WebSession, token_hash(cookie))
            if row is None:
                return
            username = row.user.username
            session.delete(row)
        self._audit.record(username, "auth.logout", username, ip=ip)

    # --- accounts --------------------------------------------------------------------------

    def me(self, who: Principal) -> UserOut:
        if who.is_system:
            return UserOut(
                username=SYSTEM,
                display_name="bootstrap token",
                roles=list(who.roles),
                active=True,
                created_at=utcnow(),
                last_login_at=None,
            )
        with self._sessions() as session:
            return user_out(find_user(session, who.username))

    def list(self) -> list[UserOut]:
        with self._sessions() as session:
            return [user_out(u) for u in session.scalars(select(User).order_by(User.username))]

    def display_names(self) -> dict[str, str]:
        with self._sessions() as session:
            return {u: n or u for u, n in session.execute(select(User.username, User.display_name))}

    def create(
        self,
        who: Principal,
        username: str,
        password: str,
        roles: list[Role],
        display_name: str = "",
    ) -> UserOut:
        out = user_out(create_user(self._sessions, username, password, roles, display_name))
        self._audit.record(who, "user.create", username, roles=[r.value for r in out.roles])
        return out

    def update(
        self,
        who: Principal,
        username: str,
        display_name: str | None = None,
        password: str | None = None,
        roles: list[Role] | None = None,
        active: bool | None = None,
    ) -> UserOut:
        """Change roles, name, password, or deactivate (tokens and sessions stop working)."""
        with self._sessions.begin() as session:
            user = find_user(session, username)
            if display_name is not None:
                user.display_name = display_name
            if password is not None:
                user.password_hash = hash_password(password)
                # whoever knew the old one is logged out everywhere
                session.execute(delete(WebSession).where(WebSession.user_id == user.id))
            if roles is not None:
                user.roles = sorted(r.value for r in set(roles))
            if active is not None:
                user.active = active
                if not active:  # for good: reactivating brings back no old session or token
                    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
                    session.execute(
                        update(ApiToken).where(ApiToken.user_id == user.id).values(revoked=True)
                    )
            session.flush()
            out = user_out(user)
        changed = [
            k
            for k, v in (("display_name", display_name), ("roles", roles), ("active", active))
            if v is not None
        ]
        self._audit.record(
            who, "user.update", username, changed=changed, password_changed=password is not None
        )
        return out

    def change_own_password(
        self, who: Principal, current: str, new: str, keep_cookie: str | None = None
    ) -> None:
        """Anyone's own password, with the current one; every other session of theirs ends
        (this one stays)."""
        if len(new) < MIN_PASSWORD:
            raise Invalid("account.password_short", n=MIN_PASSWORD)
        with self._sessions.begin() as session:
            user = find_user(session, who.username)
            if not verify_password(user.password_hash, current):
                raise NotAllowed("account.password_wrong")
            user.password_hash = hash_password(new)
            keep = token_hash(keep_cookie) if keep_cookie else ""
            session.execute(
                delete(WebSession).where(WebSession.user_id == user.id, WebSession.id_hash != keep)
            )
        self._audit.record(who, "user.password", who.username)

    def unlock(self, who: Principal, username: str) -> UserOut:
        """Failed log-ins before now no longer lock the name."""
        with self._sessions() as session:
            out = user_out(find_user(session, username))
        self._audit.record(who, "user.unlock", username)
        return out

    def locked(self) -> set[str]:
        """Names held back now (refused from some address, or slowed from everywhere)."""
        return self.throttle.locked_names()

    def create_token(self, who: Principal, username: str, name: str) -> TokenOut:
        """A personal API token for the CLI (shown once; only its hash is kept)."""
        row, token = issue_token(self._sessions, username, name)
        out = TokenOut(
            id=row.id,
            name=row.name,
            token=token,
            created_at=row.created_at,
            last_used_at=None,
            revoked=False,
        )
        self._audit.record(who, "token.create", username, token_id=out.id, name=name)
        return out

    def revoke_token(self, who: Principal, username: str, token_id: int) -> TokenOut:
        with self._sessions.begin() as session:
            user = find_user(session, username)
            row = session.get(ApiToken, token_id)
            if row is None or row.user_id != user.id:
                raise NotFound("token.not_found", id=token_id)
            row.revoked = True
            out = TokenOut(
                id=row.id,
                name=row.name,
                created_at=row.created_at,
                last_used_at=row.last_used_at,
                revoked=True,
            )
        self._audit.record(who, "token.revoke", username, token_id=token_id)
        return out
