"""STOP: silence devices, zones or everything at once (signed, like every command)."""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import APIRouter

from protocol.messages import StopCommand, utcnow

from ..broadcasts import resolve_devices
from ..errors import ApiError
from ..fleet.gateway import NotConnected
from .deps import Principal, ServicesDep, allow, audit
from .schemas import StopIn, StopOut

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/stop", tags=["broadcasts"])


@router.post("", response_model=StopOut)
def stop(body: StopIn, svc: ServicesDep, who: Principal = allow("broadcast.stop")) -> StopOut:
    """Stop what plays now on the targets; plays scheduled for later stay scheduled.

    Sent with QoS 1 and a short validity (``command_ttl_s``): a device that was offline does
    not fall silent minutes later for a stop that no longer applies.
    """
    with svc.sessions() as session:
        devices = resolve_devices(session, list(dict.fromkeys(body.targets)))
    if not devices:
        raise ApiError(404, "broadcast.no_devices")
    not_after = utcnow() + timedelta(seconds=svc.settings.command_ttl_s)
    cmd_ids = []
    for target in dict.fromkeys(body.targets):
        cmd = svc.signer.issue(target, StopCommand(reason=body.reason), not_after)
        try:
            svc.gateway.publish(cmd.topic, cmd.data, qos=1)
        except NotConnected:
            raise ApiError(503, "broker.unreachable") from None
        cmd_ids.append(cmd.cmd_id)
    log.warning("STOP sent to %s (%s)", ", ".join(body.targets), body.reason or "no reason")
    audit(svc, who, "broadcast.stop", ",".join(body.targets), reason=body.reason)
    return StopOut(cmd_ids=cmd_ids, devices=devices)
