"""The controller's signing key: which one signs, announcing the next, promoting it."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from ..auth import Principal
from ..http import ServicesDep, allow
from ..services.signing import SigningKeysOut

router = APIRouter(prefix="/api/keys", tags=["keys"])


class PromoteIn(BaseModel):
    force: bool = False
    """Promote although some devices have not acknowledged the next key (they will refuse
    every later command until re-enrolled)."""


@router.get("", response_model=SigningKeysOut, dependencies=[allow("keys.manage")])
def key_status(svc: ServicesDep) -> SigningKeysOut:
    """The key that signs, the next one and which devices have acknowledged it."""
    return svc.signing.status()


@router.post("/next", response_model=SigningKeysOut)
def announce_next_key(svc: ServicesDep, who: Principal = allow("keys.manage")) -> SigningKeysOut:
    """Make the next key and tell every device to trust it (signed with the current key)."""
    return svc.signing.announce(who)


@router.post(
    "/promote",
    response_model=SigningKeysOut,
    responses={409: {"description": "no next key, or devices still waiting"}},
)
def promote_next_key(
    body: PromoteIn, svc: ServicesDep, who: Principal = allow("keys.manage")
) -> SigningKeysOut:
    """The next key signs from now on; the old one is retired on every device."""
    return svc.signing.promote(who, body.force)
