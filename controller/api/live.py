"""Live from the station: start and end a live broadcast, the browser microphone's
WebSocket, a person's source password for a streaming client, and Icecast's questions."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from fastapi import APIRouter, Query, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, field_validator

from protocol.messages import Priority
from protocol.urls import fm_khz

from ..auth import Principal, allowed, tokens_equal
from ..http import SESSION_COOKIE, ServicesDep, allow
from ..services.onair import SOURCES
from ..services.views import BroadcastOut

log = logging.getLogger(__name__)

router = APIRouter(tags=["live"])

MAX_CHUNK = 256 * 1024  # one MediaRecorder chunk (250 ms of Opus is ~1 kB)


class LiveIn(BaseModel):
    targets: list[str] = Field(min_length=1, max_length=200)
    title: str = Field("", max_length=200)
    source: str = Field("browser", description=f"one of {', '.join(SOURCES)}")


class LiveOut(BaseModel):
    broadcast_id: str
    mount: str
    source: str
    source_url: str = Field(
        description="a streaming client sends here (user: your login "
        "name, password: your source password)"
    )
    feed: str | None = Field(
        None, description="browser: the WebSocket the microphone's WebM/Opus chunks are sent to"
    )
    delay_ms: int = Field(
        description="every loudspeaker plays the voice this long after it was captured, together"
    )


class SourcePasswordOut(BaseModel):
    user: str
    password: str = Field(description="shown once; a new one replaces it")
    server: str


@router.post("/api/live", status_code=201, response_model=LiveOut)
def go_live(body: LiveIn, svc: ServicesDep, who: Principal = allow("live.start")) -> LiveOut:
    """Go live now to ``targets``; devices start within ``live_lead_s`` and play until
    ``/end``. Not held for approval (a voice cannot be approved before it is spoken): it is
    audited, and STOP silences it like anything else."""
    started = svc.onair.go_live(who, list(body.targets), body.title, body.source)
    return LiveOut(
        broadcast_id=started.broadcast_id,
        mount=started.mount,
        source=started.source,
        source_url=started.source_url,
        delay_ms=started.delay_ms,
        feed=f"/api/live/{started.broadcast_id}/feed" if started.source == "browser" else None,
    )


@router.post("/api/live/{broadcast_id}/end", status_code=204)
def end_live(broadcast_id: str, svc: ServicesDep, who: Principal = allow("live.start")) -> Response:
    """ "Kết thúc": every loudspeaker stops; each logs the play with its start and end."""
    svc.onair.end(broadcast_id, who)
    return Response(status_code=204)


@router.get("/api/live", response_model=list[BroadcastOut])
def on_air(svc: ServicesDep, who: Principal = allow("broadcast.read")) -> list[BroadcastOut]:
    """Live broadcasts on air now."""
    return svc.broadcast_queries.on_air()


@router.post("/api/live/source-password", response_model=SourcePasswordOut)
def source_password(svc: ServicesDep, who: Principal = allow("live.start")) -> SourcePasswordOut:
    """A new password for your streaming client (BUTT, Mixxx, ffmpeg); the old one stops."""
    return SourcePasswordOut(
        user=who.username, password=svc.onair.new_source_password(who), server=svc.onair.public_url
    )


class RelayIn(BaseModel):
    targets: list[str] = Field(min_length=1, max_length=200)
    url: str = Field(
        pattern=r"^(https?://|fm:[0-9]{5,6}$)",
        max_length=500,
        description="a stream, or fm:<kHz>: the clusters' own FM tuners (no data link needed)",
    )
    fallback_urls: list[str] = Field(default_factory=list, max_length=5)
    duration_s: int = Field(ge=1, le=6 * 3600)
    title: str = Field("", max_length=200)
    start_at: datetime | None = None
    priority: Priority = Priority.normal
    fallback_media_sha256: str | None = Field(
        None, pattern=r"^[0-9a-f]{64}$", description="played when no URL gives sound"
    )
    silence_s: int | None = Field(
        None,
        ge=2,
        le=600,
        description="dead air on a URL longer than this: the next is tried (default 10)",
    )

    @field_validator("fallback_urls")
    @classmethod
    def _http(cls, urls: list[str]) -> list[str]:
        if any(
            not (u.startswith(("http://", "https://")) or fm_khz(u)) or len(u) > 500 for u in urls
        ):
            raise ValueError("every fallback must be an http(s) URL or fm:<kHz>")
        return urls

    @field_validator("url")
    @classmethod
    def _in_band(cls, url: str) -> str:
        if url.startswith("fm:") and fm_khz(url) is None:
            raise ValueError("an FM frequency between 64,000 and 108,000 kHz")
        return url


class DeadAirOut(BaseModel):
    relay: str
    plays: int
    played_s: float
    dead_air_s: float
    switches: int


@router.post("/api/relays", status_code=201, response_model=BroadcastOut)
def relay_now(
    body: RelayIn, svc: ServicesDep, who: Principal = allow("broadcast.create")
) -> BroadcastOut:
    """Tiếp sóng: a stream (VOV, the province) now or at ``start_at`` for ``duration_s``,
    its fallback URLs and file when it is down or silent; a broadcaster's waits for approval."""
    broadcast_id = svc.relays.relay_now(
        who,
        list(body.targets),
        [body.url, *body.fallback_urls],
        body.duration_s,
        body.title,
        body.start_at,
        body.priority,
        body.fallback_media_sha256,
        body.silence_s,
    )
    return svc.broadcast_queries.get(broadcast_id)


@router.get("/api/relays/dead-air", response_model=list[DeadAirOut])
def dead_air(
    svc: ServicesDep, days: int = Query(7, ge=1, le=366), who: Principal = allow("device.read")
) -> list[DeadAirOut]:
    """Per relay over the last ``days``: plays, seconds played, seconds of dead air."""
    return [DeadAirOut(**vars(d)) for d in svc.relays.dead_air(days)]


@router.websocket("/api/live/{broadcast_id}/feed")
async def browser_feed(websocket: WebSocket, broadcast_id: str) -> None:
    """The browser's microphone: binary WebM/Opus chunks (MediaRecorder), from the person's
    logged-in page (its session cookie and its CSRF token in ``?csrf=``; same origin)."""
    svc = websocket.app.state.services
    cookie = websocket.cookies.get(SESSION_COOKIE, "")
    ip = websocket.client.host if websocket.client else ""
    found = await run_in_threadpool(svc.accounts.for_cookie, cookie, ip) if cookie else None
    origin = websocket.headers.get("origin", "")
    host = websocket.headers.get("host", "")
    if (
        found is None
        or not tokens_equal(websocket.query_params.get("csrf", ""), found.csrf)
        or (origin and origin.split("://", 1)[-1] != host)
        or not allowed(found.principal.roles, "live.start")
    ):
        await websocket.close(code=4401)
        return
    try:
        source = await run_in_threadpool(svc.onair.browser_feed, broadcast_id, found.principal)
    except Exception as exc:  # noqa: BLE001 - any refusal (not theirs, ended, not a browser
        # broadcast) closes the socket with one code
        log.info("live feed %s refused: %s", broadcast_id, exc)
        await websocket.close(code=4409)
        return
    await websocket.accept()
    try:
        while True:
            chunk = await websocket.receive_bytes()
            if len(chunk) > MAX_CHUNK or not await asyncio.to_thread(source.write, chunk):
                break
    except WebSocketDisconnect:
        pass
    finally:
        await run_in_threadpool(svc.onair.feed_closed, broadcast_id, source)
        if source.error():
            log.warning("live %s: encoder said %s", broadcast_id, source.error())


@router.post("/icecast/auth", include_in_schema=False)
async def icecast_auth(request: Request, key: str = "") -> Response:
    """Icecast's URL authentication (listener_add, stream_auth, mount_add, mount_remove):
    200 with ``icecast-auth-user: 1`` when allowed. Only the station's Icecast knows ``key``."""
    svc = request.app.state.services
    form = {k: str(v) for k, v in (await request.form()).items()}
    ok = await run_in_threadpool(svc.onair.icecast_says, key, form)
    headers = {"icecast-auth-user": "1"} if ok else {"icecast-auth-message": "refused"}
    return Response(status_code=200, headers=headers)
