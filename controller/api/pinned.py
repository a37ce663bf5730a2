"""Pinned emergency messages (every cluster keeps them on disk) and the SMS orders that sound
them when the data link is gone."""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from protocol.sms import SmsAction

from ..auth import Principal
from ..domain.types import Target
from ..http import ServicesDep, allow
from ..services.pinned import PinnedIn, PinnedSetOut
from ..services.sms_orders import SmsOrderOut, SmsSendOut

router = APIRouter(prefix="/api", tags=["emergency"])


class SmsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    targets: list[Target] = Field(min_length=1, max_length=500)
    action: str = Field("play", pattern="^(play|stop|fm)$")
    message: str | None = Field(
        None,
        pattern=r"^[a-z0-9][a-z0-9-]{0,15}$",
        description="a pinned message; the first if none",
    )
    broadcast_id: str | None = Field(None, max_length=80, description="the emergency it stands for")
    fm_mhz: float | None = Field(
        None, ge=64, le=108, description="fm: the frequency the clusters' tuners relay"
    )
    fm_minutes: int = Field(60, ge=1, le=360, description="fm: how long (the order's window)")


@router.get("/pinned", response_model=PinnedSetOut)
def pinned_set(svc: ServicesDep, who: Principal = allow("device.read")) -> PinnedSetOut:
    """The pinned messages, the set's version, and which version every cluster holds."""
    return svc.pinned.current()


@router.put("/pinned/{message_id}", response_model=PinnedSetOut)
def pin_message(
    message_id: str, body: PinnedIn, svc: ServicesDep, who: Principal = allow("pinned.manage")
) -> PinnedSetOut:
    """Pin (or replace) a message: a new version of the set goes to every cluster."""
    return svc.pinned.put(who, message_id, body)


@router.delete("/pinned/{message_id}", response_model=PinnedSetOut)
def unpin_message(
    message_id: str, svc: ServicesDep, who: Principal = allow("pinned.manage")
) -> PinnedSetOut:
    return svc.pinned.remove(who, message_id)


@router.post("/sms", status_code=201, response_model=SmsSendOut)
def send_sms(body: SmsIn, svc: ServicesDep, who: Principal = allow("sms.send")) -> SmsSendOut:
    """A signed SMS order to every cluster the targets reach that has a SIM number: play a
    pinned message, STOP, or relay an FM frequency with the cluster's own tuner."""
    action = {"play": SmsAction.play, "stop": SmsAction.stop, "fm": SmsAction.fm}[body.action]
    message = body.message
    if action is SmsAction.fm:
        message = str(round(body.fm_mhz * 1000)) if body.fm_mhz is not None else None
    return svc.sms_orders.send(
        who, list(body.targets), action, message, body.broadcast_id, body.fm_minutes
    )


@router.get("/sms", response_model=list[SmsOrderOut])
def sms_orders(
    svc: ServicesDep,
    broadcast_id: str | None = Query(None, max_length=80),
    who: Principal = allow("device.read"),
) -> list[SmsOrderOut]:
    """SMS orders, newest first, with what each cluster reported of them."""
    return svc.sms_orders.list(broadcast_id=broadcast_id)
