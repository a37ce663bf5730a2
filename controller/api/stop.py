"""STOP: silence devices, zones or everything at once (signed, like every command)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from ..auth import Principal
from ..http import ServicesDep, allow
from ..services.views import StopOut
from .schemas import StopIn

router = APIRouter(prefix="/api/stop", tags=["broadcasts"])


@router.post(
    "",
    response_model=StopOut,
    responses={
        202: {"model": StopOut, "description": "some STOPs wait for the broker (``pending``)"}
    },
)
def stop(
    body: StopIn, response: Response, svc: ServicesDep, who: Principal = allow("broadcast.stop")
) -> StopOut:
    """Stop what plays now on the targets; plays scheduled for later stay scheduled.

    Valid for ``command_validity.stop`` seconds: a device that was offline does not fall
    silent much later for a stop that no longer applies. If the broker is down, 202: the STOP
    is sent as soon as it is back, while still valid."""
    out = svc.broadcasts.stop(list(body.targets), body.reason, who)
    if out.pending:
        response.status_code = 202
    return out
