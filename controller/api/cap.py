"""CAP 1.2 alerts from warning centres: each feed posts with its own token."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from ..cap.alert import MAX_BYTES
from ..domain.errors import TooLarge, Unauthenticated
from ..http import ServicesDep, allow

router = APIRouter(prefix="/api/cap", tags=["cap"])


class CapOut(BaseModel):
    alert_id: int
    action: str
    broadcast_id: str | None
    duplicate: bool
    zones: list[str]
    speech: str = Field(
        description="the alert's own audio: pending (made after this answer), done, refused; "
        "empty when nothing sounds"
    )
    pinned: str | None = Field(description="the pinned message sounded at once, if any")


@router.post("", response_model=CapOut)
async def receive_alert(
    request: Request,
    svc: ServicesDep,
    authorization: str = Header("", description="Bearer <feed token>"),
) -> CapOut:
    """A CAP 1.2 document (``application/cap+xml``): checked, acted on once per (sender,
    identifier) by the station's rules. Malformed or expired → 422 naming the problem and
    nothing is broadcast; the same alert again answers what was done the first time. The
    answer does not wait for speech: ``GET /api/cap`` shows the spoken broadcast when made."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("cap.bad_token")
    feed = svc.cap.feed_for(token.strip())
    body = await request.body()
    if len(body) > MAX_BYTES:
        raise TooLarge("upload.too_large", limit_mb=MAX_BYTES // 2**20)
    outcome = await run_in_threadpool(svc.cap.receive, feed, body)
    return CapOut(
        alert_id=outcome.alert_id,
        action=outcome.action,
        broadcast_id=outcome.broadcast_id,
        duplicate=outcome.duplicate,
        zones=list(outcome.zones),
        speech=outcome.speech,
        pinned=outcome.pinned,
    )


class CapFeedOut(BaseModel):
    name: str
    policy: str
    post: bool = Field(description="alerts may be POSTed to /api/cap with the feed's token")
    folder: str | None
    url: str | None
    poll_s: float
    polled_at: datetime | None = Field(description="last read of its folder or URL")
    received: int = Field(description="alerts read from the folder or URL since the start")
    refused: int
    last_error: str | None
    last_error_at: datetime | None


@router.get("/feeds", response_model=list[CapFeedOut], dependencies=[allow("broadcast.read")])
def list_feeds(svc: ServicesDep) -> list[CapFeedOut]:
    """The configured feeds and, for a watched folder or URL, what its last read found."""
    status = svc.cap_watch.status()
    out = []
    for name, feed in sorted(svc.settings.cap_feeds.items()):
        seen = status.get(name)
        out.append(
            CapFeedOut(
                name=name,
                policy=feed.policy,
                post=feed.token is not None,
                folder=str(feed.folder) if feed.folder else None,
                url=feed.url,
                poll_s=feed.poll_s,
                polled_at=seen.polled_at if seen else None,
                received=seen.received if seen else 0,
                refused=seen.refused if seen else 0,
                last_error=seen.last_error if seen else None,
                last_error_at=seen.last_error_at if seen else None,
            )
        )
    return out


@router.get("", dependencies=[allow("broadcast.read")])
def list_alerts(svc: ServicesDep) -> list[dict[str, Any]]:
    """The alerts received, newest first, with what was done with each."""
    return svc.cap.list()
