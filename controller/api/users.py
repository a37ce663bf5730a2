"""People: accounts with roles and their API tokens (admins), and ``/api/me`` for everyone."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..auth import Principal, Role
from ..http import SESSION_COOKIE, ServicesDep, allow
from ..services.accounts import check_username
from ..services.views import TokenOut, UserOut
from .schemas import RowId

router = APIRouter(tags=["users"])


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


@router.get("/api/me", response_model=UserOut)
def me(svc: ServicesDep, who: Principal = allow("account.self")) -> UserOut:
    """Who the token or session belongs to, with its roles."""
    return svc.accounts.me(who)


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current: str = Field(max_length=200)
    new: str = Field(max_length=200, description="at least 10 characters")


@router.post("/api/me/password", status_code=204)
def change_password(
    body: PasswordIn, request: Request, svc: ServicesDep, who: Principal = allow("account.self")
) -> Response:
    """Your own password, with the current one; your other sessions end."""
    svc.accounts.change_own_password(
        who, body.current, body.new, request.cookies.get(SESSION_COOKIE)
    )
    return Response(status_code=204)


@router.post("/api/users/{username}/unlock", response_model=UserOut)
def unlock_user(username: str, svc: ServicesDep, who: Principal = allow("user.manage")) -> UserOut:
    """Failed log-ins so far no longer lock this name (someone forgot, or was locked out by
    a stranger's tries)."""
    return svc.accounts.unlock(who, username)


@router.get("/api/users", response_model=list[UserOut], dependencies=[allow("user.manage")])
def list_users(svc: ServicesDep) -> list[UserOut]:
    return svc.accounts.list()


@router.post("/api/users", status_code=201, response_model=UserOut)
def create_user(body: UserIn, svc: ServicesDep, who: Principal = allow("user.manage")) -> UserOut:
    return svc.accounts.create(who, body.username, body.password, body.roles, body.display_name)


@router.patch("/api/users/{username}", response_model=UserOut)
def update_user(
    username: str, body: UserPatch, svc: ServicesDep, who: Principal = allow("user.manage")
) -> UserOut:
    """Change roles, name, password, or deactivate (tokens and sessions stop working)."""
    return svc.accounts.update(
        who, username, body.display_name, body.password, body.roles, body.active
    )


@router.post("/api/users/{username}/tokens", status_code=201, response_model=TokenOut)
def create_token(
    username: str, body: TokenIn, svc: ServicesDep, who: Principal = allow("user.manage")
) -> TokenOut:
    """A personal API token for the CLI (shown once; only its hash is kept)."""
    return svc.accounts.create_token(who, username, body.name)


@router.post("/api/users/{username}/tokens/{token_id}/revoke", response_model=TokenOut)
def revoke_token(
    username: str, token_id: RowId, svc: ServicesDep, who: Principal = allow("user.manage")
) -> TokenOut:
    return svc.accounts.revoke_token(who, username, token_id)
