"""The station's public face, without a log-in (``/nghe``: "listen"): the official bulletins
it aired, to read and hear again, an RSS podcast feed for the commune's web page and Zalo
Official Account, and a QR code for the village notice board. Phone-first and Vietnamese;
rate-limited per address, cached briefly, and showing nothing internal (no ids, devices,
people or tokens)."""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, Response

from ...container import Services
from ...i18n import translate
from ...services.public import PublicBulletin
from ...streams.timeline import channel_url, stream_server_url
from ..public_guard import RateLimit, TtlCache
from ..render import templates
from ..secure_address import qr_svg

PREFIX = "/nghe"
HEADERS = {
    "Cache-Control": "public, max-age=10",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; media-src 'self' blob:; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class PublicGuard:
    """One app's rate limit and cache of rendered public pages (``app.state.public_guard``)."""

    def __init__(self, per_minute: float = 120, burst: int = 40, ttl_s: float = 5):
        self.limit = RateLimit(per_minute, burst)
        self.rendered: TtlCache[tuple[bytes, str]] = TtlCache(ttl_s)


class TooMany(Exception):
    def __init__(self, wait_s: float):
        self.wait_s = wait_s


def _paced(request: Request) -> None:
    """Every public request spends a token of its address's bucket."""
    guard: PublicGuard = request.app.state.public_guard
    wait = guard.limit.allow(request.client.host if request.client else "?")
    if wait:
        raise TooMany(wait)


router = APIRouter(prefix=PREFIX, include_in_schema=False, dependencies=[Depends(_paced)])


def _base(request: Request, svc: Services) -> str:
    """Where the public reaches the station (its public URL, else the address it was asked)."""
    return (svc.settings.public_url or str(request.base_url)).rstrip("/")


def _item(b: PublicBulletin, tz: ZoneInfo) -> dict[str, Any]:
    local = b.aired_at.astimezone(tz)
    return dict(
        slug=b.slug,
        title=b.title or translate("public.untitled", "vi"),
        when=local.strftime("%H:%M, %d/%m/%Y"),
        iso=local.isoformat(),
        emergency=b.emergency,
        text=b.text,
        minutes=f"{b.duration_ms // 60000}:{b.duration_ms // 1000 % 60:02d}",
        repeats=b.repeats,
    )


def _live_url(svc: Services) -> str | None:
    """The station's channel, when the public may listen to it."""
    if svc.settings.icecast == "off" or not svc.station.get().public_listening:
        return None
    return channel_url(svc.settings)


def _headers(svc: Services) -> dict[str, str]:
    """The page's headers; its media may come from the station's Icecast (the channel)."""
    origin = stream_server_url(svc.settings) if svc.settings.icecast != "off" else ""
    csp = HEADERS["Content-Security-Policy"].replace(
        "media-src 'self'", f"media-src 'self' {origin}".rstrip()
    )
    return {**HEADERS, "Content-Security-Policy": csp}


def _html(request: Request, name: str, **context: Any) -> HTMLResponse:
    svc: Services = request.app.state.services
    return templates.TemplateResponse(
        request,
        name,
        dict(
            t=lambda key, **kw: translate(key, "vi", **kw),
            station=svc.settings.station_name,
            live=_live_url(svc),
            **context,
        ),
        headers=_headers(svc),
        status_code=404 if context.get("missing") else 200,
    )


def _cached(request: Request, key: str, make: Any) -> Response:
    guard: PublicGuard = request.app.state.public_guard
    body, kind = guard.rendered.get(key, make)
    return Response(body, media_type=kind, headers=_headers(request.app.state.services))


@router.get("", response_class=HTMLResponse)
async def public_page(request: Request, trang: int = Query(1, ge=1, le=100_000)) -> Response:
    """Today's and past public bulletins, newest first, thirty a page."""
    svc: Services = request.app.state.services

    def make() -> tuple[bytes, str]:
        items, pages = svc.public.page(trang)
        tz = ZoneInfo(svc.settings.timezone)
        html = _html(
            request,
            "public.html",
            items=[_item(b, tz) for b in items],
            page=trang,
            pages=pages,
            feed=f"{PREFIX}/rss.xml",
        )
        return bytes(html.body), "text/html; charset=utf-8"

    return await run_in_threadpool(_cached, request, f"page:{trang}", make)


@router.get("/b/{slug}", response_class=HTMLResponse)
async def public_bulletin(request: Request, slug: str) -> Response:
    """One bulletin, to share (a rumour checked against what the station said): the link a
    whole village opens at once, so kept like the list."""
    svc: Services = request.app.state.services
    slug = slug[:40]

    def make() -> tuple[bytes, str]:
        found = svc.public.get(slug)
        if found is None:
            return b"", ""
        tz = ZoneInfo(svc.settings.timezone)
        html = _html(request, "public.html", items=[_item(found, tz)], page=1, pages=1, single=True)
        return bytes(html.body), "text/html; charset=utf-8"

    response = await run_in_threadpool(_cached, request, f"bulletin:{slug}", make)
    if not response.body:  # an unknown link says so, as a 404 (a mistyped or made-up one)
        return _html(request, "public.html", items=[], page=1, pages=1, missing=True)
    return response


@router.get("/audio/{slug}.ogg")
async def public_audio(request: Request, slug: str) -> Response:
    """A public bulletin's audio (Range: a phone seeks and resumes)."""
    svc: Services = request.app.state.services
    path = await run_in_threadpool(svc.public.audio, slug[:40])
    if path is None or not path.is_file():
        return Response(translate("public.not_found", "vi"), status_code=404, headers=HEADERS)
    return FileResponse(
        path, media_type="audio/ogg", headers={**HEADERS, "Cache-Control": "public, max-age=86400"}
    )


@router.get("/rss.xml")
async def public_feed(request: Request) -> Response:
    """An RSS 2.0 podcast feed (iTunes tags) of the latest public bulletins."""
    svc: Services = request.app.state.services
    base = _base(request, svc)

    def make() -> tuple[bytes, str]:
        items, _ = svc.public.page(1)
        return _feed(svc, base, items).encode(), "application/rss+xml; charset=utf-8"

    return await run_in_threadpool(_cached, request, f"feed:{base}", make)


@router.get("/qr.svg")
async def public_qr(request: Request) -> Response:
    """A QR code of the public page, to print for the village notice board."""
    svc: Services = request.app.state.services
    url = f"{_base(request, svc)}{PREFIX}"
    return _cached(request, f"qr:{url}", lambda: (qr_svg(url).encode(), "image/svg+xml"))


def _feed(svc: Services, base: str, items: list[PublicBulletin]) -> str:
    station = escape(svc.settings.station_name)
    entries = []
    for b in items:
        title = escape(b.title or translate("public.untitled", "vi"))
        text = escape(b.text or "")
        seconds = b.duration_ms // 1000
        entries.append(
            f"<item><title>{title}</title>"
            f"<link>{base}{PREFIX}/b/{b.slug}</link>"
            f'<guid isPermaLink="false">{b.slug}</guid>'
            f"<pubDate>{format_datetime(b.aired_at)}</pubDate>"
            f"<description>{text}</description>"
            f'<enclosure url="{base}{PREFIX}/audio/{b.slug}.ogg" length="{b.size}" '
            'type="audio/ogg"/>'
            f"<itunes:duration>{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
            "</itunes:duration><itunes:explicit>false</itunes:explicit>"
            f"{'<itunes:keywords>khẩn cấp</itunes:keywords>' if b.emergency else ''}</item>"
        )
    now = format_datetime(datetime.now().astimezone())
    about = escape(translate("public.feed_description", "vi", station=svc.settings.station_name))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" '
        'xmlns:atom="http://www.w3.org/2005/Atom"><channel>'
        f"<title>{station}</title><link>{base}{PREFIX}</link>"
        f'<atom:link href="{base}{PREFIX}/rss.xml" rel="self" type="application/rss+xml"/>'
        f"<description>{about}</description>"
        f"<language>vi</language><lastBuildDate>{now}</lastBuildDate>"
        f"<itunes:author>{station}</itunes:author><itunes:explicit>false</itunes:explicit>"
        '<itunes:category text="Government"/><itunes:type>episodic</itunes:type>'
        f"{''.join(entries)}</channel></rss>\n"
    )
