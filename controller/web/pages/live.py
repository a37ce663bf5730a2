"""Live updates for open pages: a server-sent event stream fed by ``services.live``."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from ...auth import Principal
from ...http import ServicesDep
from ..render import page

router = APIRouter(prefix="/ui", tags=["web"], include_in_schema=False)

KEEP_ALIVE_S = 15.0


@router.get("/stream")
async def stream(
    request: Request, svc: ServicesDep, who: Principal = page("account.self")
) -> StreamingResponse:
    """Server-sent events pushed as things change: ``fleet`` (a device's status or an alarm),
    ``progress`` (agents reporting on a play), ``broadcasts`` (created, released, closed); the
    page re-fetches what it shows. Comments keep the connection alive."""
    subscription = svc.live.subscribe()

    async def events() -> AsyncIterator[str]:
        try:
            yield ": connected\n\n"
            while not await request.is_disconnected():
                changed = await subscription.next(KEEP_ALIVE_S)
                if not changed:
                    yield ": keep-alive\n\n"
                for topic in sorted(changed):
                    yield f"event: {topic}\ndata: {{}}\n\n"
        finally:
            subscription.close()

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )
