"""People: accounts with roles and their API tokens (admins), and ``/api/me`` for everyone."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select

from protocol.messages import utcnow

from ..accounts import check_username, create_user as create_account, find_user, issue_token
from ..auth import Role, hash_password
from ..db.models import ApiToken, User
from ..errors import ApiError
from .deps import Principal, ServicesDep, allow, audit

router = APIRouter(tags=["users"])


class UserOut(BaseModel):
    username: str
    display_name: str
    roles: list[Role]
    active: bool
    created_at: datetime
    last_login_at: datetime | None


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(description="lowercase letters, digits, . _ -")
    display_name: str = Field("", max_length=200)
    password: str = Field(min_length=10, max_length=200)
    roles: list[Role] = Field(min_length=1)

    _username = field_validator("username")(check_username)


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: str | None = Field(None, max_length=200)
    password: str | None = Field(None, min_length=10, max_length=200)
    roles: list[Role] | None = Field(None, min_length=1)
    active: bool | None = None


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field("", max_length=100, description="e.g. 'CLI on the station PC'")


class TokenOut(BaseModel):
    id: int
    name: str
    token: str | None = Field(None, description="shown once, at creation")
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


def _out(user: User) -> UserOut:
    return UserOut(username=user.username, display_name=user.display_name,
                   roles=[Role(r) for r in user.roles], active=user.active,
                   created_at=user.created_at, last_login_at=user.last_login_at)


@router.get("/api/me", response_model=UserOut)
def me(svc: ServicesDep, who: Principal = allow("account.self")) -> UserOut:
    """Who the token or session belongs to, with its roles."""
    if who.is_system:
        return UserOut(username="system", display_name="bootstrap token", roles=list(who.roles),
                       active=True, created_at=utcnow(), last_login_at=None)
    with svc.sessions() as session:
        return _out(find_user(session, who.username))


@router.get("/api/users", response_model=list[UserOut], dependencies=[allow("user.manage")])
def list_users(svc: ServicesDep) -> list[UserOut]:
    with svc.sessions() as session:
        return [_out(u) for u in session.scalars(select(User).order_by(User.username))]


@router.post("/api/users", status_code=201, response_model=UserOut)
def create_user(body: UserIn, svc: ServicesDep, who: Principal = allow("user.manage")) -> UserOut:
    out = _out(create_account(svc.sessions, body.username, body.password, body.roles,
                              body.display_name))
    audit(svc, who, "user.create", body.username, roles=[r.value for r in out.roles])
    return out


@router.patch("/api/users/{username}", response_model=UserOut)
def update_user(username: str, body: UserPatch, svc: ServicesDep,
                who: Principal = allow("user.manage")) -> UserOut:
    """Change roles, name, password, or deactivate (tokens and sessions stop working)."""
    with svc.sessions.begin() as session:
        user = find_user(session, username)
        if body.display_name is not None:
            user.display_name = body.display_name
        if body.password is not None:
            user.password_hash = hash_password(body.password)
        if body.roles is not None:
            user.roles = sorted(r.value for r in set(body.roles))
        if body.active is not None:
            user.active = body.active
        session.flush()
        out = _out(user)
    changed = [k for k, v in body.model_dump().items() if v is not None and k != "password"]
    audit(svc, who, "user.update", username, changed=changed,
          password_changed=body.password is not None)
    return out


@router.post("/api/users/{username}/tokens", status_code=201, response_model=TokenOut)
def create_token(username: str, body: TokenIn, svc: ServicesDep,
                 who: Principal = allow("user.manage")) -> TokenOut:
    """A personal API token for the CLI (shown once; only its hash is kept)."""
    row, token = issue_token(svc.sessions, username, body.name)
    out = TokenOut(id=row.id, name=row.name, token=token, created_at=row.created_at,
                   last_used_at=None, revoked=False)
    audit(svc, who, "token.create", username, token_id=out.id, name=body.name)
    return out


@router.post("/api/users/{username}/tokens/{token_id}/revoke", response_model=TokenOut)
def revoke_token(username: str, token_id: int, svc: ServicesDep,
                 who: Principal = allow("user.manage")) -> TokenOut:
    with svc.sessions.begin() as session:
        user = find_user(session, username)
        row = session.get(ApiToken, token_id)
        if row is None or row.user_id != user.id:
            raise ApiError(404, "token.not_found", id=token_id)
        row.revoked = True
        out = TokenOut(id=row.id, name=row.name, created_at=row.created_at,
                       last_used_at=row.last_used_at, revoked=True)
    audit(svc, who, "token.revoke", username, token_id=token_id)
    return out
