"""What both HTTP faces (the JSON API and the web pages) share: the service container as a
dependency, who is calling (a person, the bootstrap token or a device) checked against one
permission per route — deny by default — and the browser session cookie."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Response

from .auth import Principal, allowed, tokens_equal
from .container import Services
from .domain.errors import NotAllowed, Unauthenticated
from .services.accounts import Login
from .services.logins import known_cookie_name

SESSION_COOKIE = "loalang_session"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(services)]


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def principal_for(request: Request, svc: Services, csrf: str | None = None) -> Principal | None:
    """The caller behind a bearer token (bootstrap or personal) or a browser session.

    A session's changes must carry its CSRF token: header ``X-CSRF-Token``, or ``csrf`` as
    given by a page's form field."""
    token = bearer(request)
    ip = client_ip(request)
    if token is not None:
        return svc.accounts.for_token(token, ip)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    found = svc.accounts.for_cookie(cookie, ip)
    if found is None:
        return None
    supplied = csrf if csrf is not None else request.headers.get("x-csrf-token", "")
    if request.method in UNSAFE and not tokens_equal(supplied, found.csrf):
        raise NotAllowed("auth.csrf")
    request.state.csrf = found.csrf  # for the page's forms: no second lookup
    return found.principal


class Allow:
    """``Depends(Allow("broadcast.create"))``: the caller, if one of its roles holds it."""

    def __init__(self, permission: str):
        self.permission = permission

    def __call__(self, request: Request, svc: ServicesDep) -> Principal:
        principal = principal_for(request, svc)
        if principal is None:
            if bearer(request) is not None:
                svc.audit.record_anonymous("auth.failed", request.url.path, client_ip(request))
            raise Unauthenticated("auth.required")
        self.check(svc, request, principal)
        return principal

    def check(self, svc: Services, request: Request, principal: Principal) -> None:
        if not allowed(principal.roles, self.permission):
            svc.audit.record(
                principal,
                "auth.forbidden",
                f"{request.method} {request.url.path}",
                "denied",
                permission=self.permission,
            )
            raise NotAllowed("auth.forbidden", permission=self.permission)


def allow(permission: str) -> Any:
    """The dependency for a route parameter: ``who: Principal = allow("...")``."""
    return Depends(Allow(permission))


class DeviceOrPermission(Allow):
    """Media downloads: a device's own token, or a person allowed ``media.read``."""

    def __call__(self, request: Request, svc: ServicesDep) -> Principal:  # type: ignore[override]
        token = bearer(request)
        if token is not None and "." in token and not token.startswith("lt_"):
            device_id = svc.accounts.device_for_token(token)
            if device_id is not None:
                return Principal(f"device:{device_id}", frozenset(), client_ip(request))
        return super().__call__(request, svc)


def set_session_cookie(svc: Services, response: Response, result: Login) -> None:
    s = svc.settings
    secure = s.resolved_public_url.startswith("https://")
    response.set_cookie(
        SESSION_COOKIE,
        result.cookie,
        max_age=int(s.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )
    if result.known_cookie:  # this browser logged in to this name: others' failures pass it by
        response.set_cookie(
            known_cookie_name(result.username),
            result.known_cookie,
            max_age=KNOWN_DEVICE_DAYS * 86400,
            httponly=True,
            samesite="strict",
            secure=secure,
            path="/",
        )


KNOWN_DEVICE_DAYS = 180


def known_cookie(request: Request, username: str) -> str | None:
    """The browser's known-device cookie for ``username``, if it has one."""
    return request.cookies.get(known_cookie_name(username))


def end_session(svc: Services, request: Request, response: Response) -> None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        svc.accounts.end_session(cookie, client_ip(request))
    response.delete_cookie(SESSION_COOKIE, path="/")
