"""Browser login and logout: a session cookie (HttpOnly, SameSite=Lax) and a CSRF token."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from ..http import ServicesDep, client_ip, end_session, known_cookie, set_session_cookie

router = APIRouter(prefix="/auth", tags=["session"])


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class LoginOut(BaseModel):
    username: str
    display_name: str
    roles: list[str]
    csrf: str = Field(description="send back as X-CSRF-Token with every change")


@router.post("/login", response_model=LoginOut)
def log_in(body: LoginIn, request: Request, response: Response, svc: ServicesDep) -> LoginOut:
    """Open a browser session (cookie) and return the CSRF token its changes must carry."""
    result = svc.accounts.attempt_login(
        body.username, body.password, client_ip(request), known_cookie(request, body.username)
    )
    set_session_cookie(svc, response, result)
    return LoginOut(
        username=result.username,
        display_name=result.display_name,
        roles=result.roles,
        csrf=result.csrf,
    )


@router.post("/logout", status_code=204)
def log_out(request: Request, response: Response, svc: ServicesDep) -> Response:
    end_session(svc, request, response)
    response.status_code = 204
    return response
