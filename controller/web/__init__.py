"""The station in a browser: server-rendered pages (Jinja2), htmx for updates, SSE for live.

``pages/`` holds one module per area (each route calls services and a view builder beside
it), ``render.py`` what they share, ``routine_form.py`` the pure form ↔ schedule mapping.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..domain.errors import DomainError
from ..errors import error_response, http_status
from ..i18n import translate
from .pages import (
    admin,
    approvals,
    archive,
    broadcaster,
    emergency,
    fleet,
    live,
    onair,
    pinned,
    public,
    reports,
    routine,
    session,
    speech,
    updates,
)
from .pages.public import PublicGuard, TooMany
from .render import LoginRequired, PageForbidden, lang_of, render, words

PAGE_MODULES = (
    public,
    session,
    broadcaster,
    emergency,
    pinned,
    onair,
    routine,
    approvals,
    fleet,
    speech,
    admin,
    live,
    reports,
    archive,
    updates,
)


def install(app: FastAPI) -> None:
    """Routes, static files and the pages for missing or insufficient rights."""
    app.state.public_guard = PublicGuard()
    for module in PAGE_MODULES:
        app.include_router(module.router)
    app.mount("/ui/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse(f"/ui/login?next={request.url.path}", status_code=303)

    @app.exception_handler(DomainError)
    async def _refusal(request: Request, exc: DomainError) -> Response:
        """On a page (not found, ...) the refusal is a page; the JSON API keeps its JSON."""
        if not request.url.path.startswith("/ui/"):
            return error_response(request, exc)
        return render(
            request,
            "error.html",
            None,
            status_code=http_status(exc),
            message=words(exc, lang_of(request)),
        )

    api_http_error = app.exception_handlers[StarletteHTTPException]

    @app.exception_handler(StarletteHTTPException)
    async def _no_such_page(request: Request, exc: StarletteHTTPException) -> Response:
        """An address under /ui/ that is no page: a page in the station's layout that says so
        and leads home, not the framework's JSON."""
        if exc.status_code != 404 or not request.url.path.startswith("/ui"):
            return await api_http_error(request, exc)
        return render(
            request,
            "error.html",
            None,
            status_code=404,
            message=translate("page.not_found", lang_of(request)),
            home=True,
        )

    @app.exception_handler(TooMany)
    async def _too_many(request: Request, exc: TooMany) -> Response:
        """A public page asked too often from one address: wait, in words."""
        return Response(
            translate("public.too_many", "vi"),
            status_code=429,
            media_type="text/plain; charset=utf-8",
            headers={"Retry-After": str(max(1, round(exc.wait_s)))},
        )

    @app.exception_handler(PageForbidden)
    async def _forbidden(request: Request, exc: PageForbidden) -> HTMLResponse:
        return render(request, "forbidden.html", exc.principal, status_code=403)

    icon = (Path(__file__).parent / "static" / "favicon.svg").read_bytes()

    @app.get("/favicon.ico", include_in_schema=False)
    def _favicon() -> Response:
        """The loudspeaker icon (SVG: every browser in use reads it)."""
        return Response(
            icon, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"}
        )

    @app.get("/", include_in_schema=False)
    def _root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=303)
