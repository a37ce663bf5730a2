"""Creating people and their tokens: one place for the API and the ``loalang user`` command."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import utcnow

from .auth import Role, hash_password, new_token, token_hash
from .db.models import ApiToken, User
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
