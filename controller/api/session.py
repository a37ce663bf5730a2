"""Browser login and logout: a session cookie (HttpOnly, SameSite=Lax) and a CSRF token."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from ..accounts import Login, login, recent_failures
from ..auth import token_hash
from ..db.models import WebSession
from ..errors import ApiError
from .deps import SESSION_COOKIE, ServicesDep, audit, client_ip

router = APIRouter(prefix="/auth", tags=["session"])


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class LoginOut(BaseModel):
    username: str
    display_name: str
    roles: list[str]
    csrf: str = Field(description="send back as X-CSRF-Token with every change")


def attempt_login(svc: ServicesDep, username: str, password: str, ip: str) -> Login:
    """Same answer for an unknown name and a wrong password; a name is locked for a while
    after repeated failures. Every attempt is in the audit log."""
    s = svc.settings
    with svc.sessions() as session:
        locked = recent_failures(session, username, s.login_lockout_minutes) >= \
            s.login_lockout_failures
    if locked:
        audit(svc, username[:64], "auth.login", username, "denied", ip, locked=True)
        raise ApiError(429, "auth.locked", minutes=s.login_lockout_minutes)
    result = login(svc.sessions, username, password, ip, s.session_hours)
    if result is None:
        audit(svc, username[:64], "auth.login", username, "denied", ip)
        raise ApiError(401, "auth.bad_login")
    audit(svc, result.username, "auth.login", result.username, "ok", ip)
    return result


def set_session_cookie(svc: ServicesDep, response: Response, result: Login) -> None:
    s = svc.settings
    response.set_cookie(SESSION_COOKIE, result.cookie, max_age=int(s.session_hours * 3600),
                        httponly=True, samesite="lax",
                        secure=s.resolved_public_url.startswith("https://"), path="/")


@router.post("/login", response_model=LoginOut)
def log_in(body: LoginIn, request: Request, response: Response, svc: ServicesDep) -> LoginOut:
    """Open a browser session (cookie) and return the CSRF token its changes must carry."""
    result = attempt_login(svc, body.username, body.password, client_ip(request))
    set_session_cookie(svc, response, result)
    return LoginOut(username=result.username, display_name=result.display_name,
                    roles=result.roles, csrf=result.csrf)


def end_session(svc: ServicesDep, request: Request, response: Response) -> None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        with svc.sessions.begin() as session:
            row = session.get(WebSession, token_hash(cookie))
            if row is not None:
                username = row.user.username
                session.delete(row)
                audit(svc, username, "auth.logout", username, ip=client_ip(request))
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.post("/logout", status_code=204)
def log_out(request: Request, response: Response, svc: ServicesDep) -> Response:
    end_session(svc, request, response)
    response.status_code = 204
    return response
