"""Request dependencies: the service container and who is calling (a person, the bootstrap
token, or a device), checked against one permission per route — deny by default."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from protocol.messages import utcnow

from ..auth import Role, allowed, token_hash
from ..db.models import ApiToken, AuditEntry, Device
from ..errors import ApiError
from ..services import Services, hash_token, tokens_equal


def services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(services)]


@dataclass(frozen=True)
class Principal:
    """Who makes a request. ``system`` is the bootstrap token in ``data_dir/api-token``."""

    username: str
    roles: frozenset[Role] = field(default_factory=frozenset)
    ip: str = ""

    @property
    def is_system(self) -> bool:
        return self.username == "system"


SYSTEM_ROLES = frozenset({Role.admin})
SESSION_COOKIE = "loalang_session"
TOKEN_USE_RESOLUTION = timedelta(minutes=1)
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def audit(svc: Services, principal: Principal | str, action: str, target: str = "",
          outcome: str = "ok", ip: str = "", **detail: Any) -> None:
    """Append one line to the audit log (its own transaction: kept even if the action fails)."""
    actor = principal if isinstance(principal, str) else principal.username
    ip = ip or ("" if isinstance(principal, str) else principal.ip)
    with svc.sessions.begin() as session:
        session.add(AuditEntry(ts=utcnow(), actor=actor[:64], action=action,
                               target=target[:200], outcome=outcome, ip=ip, detail=detail))


def principal_for(request: Request, svc: Services, csrf: str | None = None) -> Principal | None:
    """The caller behind a bearer token (bootstrap or personal) or a browser session.

    A session's changes must carry its CSRF token: header ``X-CSRF-Token``, or ``csrf`` as
    given by a page's form field."""
    token = _bearer(request)
    ip = client_ip(request)
    if token is None:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        from ..accounts import session_user

        with svc.sessions() as session:
            row = session_user(session, cookie)
            if row is None:
                return None
            supplied = csrf if csrf is not None else request.headers.get("x-csrf-token", "")
            if request.method in UNSAFE and not tokens_equal(supplied, row.csrf):
                raise ApiError(403, "auth.csrf")
            request.state.csrf = row.csrf  # for the page's forms: no second lookup
            return Principal(row.user.username, frozenset(Role(r) for r in row.user.roles), ip)
    if tokens_equal(token, svc.api_token):
        return Principal("system", SYSTEM_ROLES, ip)
    with svc.sessions() as session:
        row = session.query(ApiToken).filter_by(token_hash=token_hash(token)).one_or_none()
        if row is None or row.revoked or not row.user.active:
            return None
        principal = Principal(row.user.username, frozenset(Role(r) for r in row.user.roles), ip)
        token_id, last_used = row.id, row.last_used_at
    now = utcnow()
    if last_used is None or now - last_used > TOKEN_USE_RESOLUTION:
        # "last used" to the minute is plenty, and spares the single writer a write per call
        with svc.sessions.begin() as session:
            session.query(ApiToken).filter_by(id=token_id).update({"last_used_at": now})
    return principal


class Allow:
    """``Depends(Allow("broadcast.create"))``: the caller, if one of its roles holds it."""

    def __init__(self, permission: str):
        self.permission = permission

    def __call__(self, request: Request, svc: ServicesDep) -> Principal:
        principal = principal_for(request, svc)
        if principal is None:
            if _bearer(request) is not None:
                audit(svc, "anonymous", "auth.failed", request.url.path, "denied",
                      client_ip(request))
            raise ApiError(401, "auth.required")
        if not allowed(principal.roles, self.permission):
            audit(svc, principal, "auth.forbidden", f"{request.method} {request.url.path}",
                  "denied", permission=self.permission)
            raise ApiError(403, "auth.forbidden", permission=self.permission)
        return principal


def allow(permission: str) -> Any:
    """The dependency for a route parameter: ``who: Principal = allow("...")``."""
    return Depends(Allow(permission))


def device_for_token(session: Session, token: str) -> Device | None:
    """Device tokens read ``{device_id}.{secret}``; only the secret's hash is stored."""
    device_id, _, secret = token.partition(".")
    if not secret:
        return None
    device = session.get(Device, device_id)
    if device is None or device.retired or not tokens_equal(device.token_hash, hash_token(secret)):
        return None
    return device


class DeviceOrPermission(Allow):
    """Media downloads: a device's own token, or a person allowed ``media.read``."""

    def __call__(self, request: Request, svc: ServicesDep) -> Principal:  # type: ignore[override]
        token = _bearer(request)
        if token is not None and "." in token and not token.startswith("lt_"):
            with svc.sessions() as session:
                device = device_for_token(session, token)
            if device is not None:
                return Principal(f"device:{device.id}", frozenset(), client_ip(request))
        return super().__call__(request, svc)
