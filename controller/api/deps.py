"""Request dependencies: the service container and the two kinds of caller (operator, device)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from ..db.models import Device
from ..errors import ApiError
from ..services import Services, hash_token, tokens_equal


def services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(services)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def require_operator(request: Request, svc: ServicesDep) -> None:
    """Operator API token (accounts and roles arrive with the web UI issue)."""
    token = _bearer(request)
    if token is None or not tokens_equal(token, svc.api_token):
        raise ApiError(401, "auth.required")


def device_for_token(session: Session, token: str) -> Device | None:
    """Device tokens read ``{device_id}.{secret}``; only the secret's hash is stored."""
    device_id, _, secret = token.partition(".")
    if not secret:
        return None
    device = session.get(Device, device_id)
    if device is None or device.retired or not tokens_equal(device.token_hash, hash_token(secret)):
        return None
    return device


def require_device_or_operator(request: Request, svc: ServicesDep) -> None:
    token = _bearer(request)
    if token is None:
        raise ApiError(401, "auth.required")
    if tokens_equal(token, svc.api_token):
        return
    with svc.sessions() as session:
        if device_for_token(session, token) is None:
            raise ApiError(401, "auth.required")


Operator = Depends(require_operator)
DeviceOrOperator = Depends(require_device_or_operator)
