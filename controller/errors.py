"""Domain refusals as HTTP answers, mapped once for the JSON API (the web pages render their own).

Every refusal body carries the catalogue key and the message in the caller's language, with
both languages beside it: ``{"error": {"code", "message", "messages": {"vi", "en"}}}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from .domain.errors import (
    Conflict,
    DomainError,
    Invalid,
    Locked,
    NotAllowed,
    NotFound,
    TooLarge,
    Unauthenticated,
    Unavailable,
    Unsupported,
)
from .i18n import pick_language, translate

HTTP_STATUS: dict[type[DomainError], int] = {
    Invalid: 422,
    NotFound: 404,
    Conflict: 409,
    NotAllowed: 403,
    Unauthenticated: 401,
    Locked: 429,
    TooLarge: 413,
    Unsupported: 415,
    Unavailable: 503,
}


def http_status(exc: DomainError) -> int:
    """The HTTP status of a refusal (its nearest mapped class; 400 if none)."""
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]  # type: ignore[index]
    return 400


def error_body(exc: DomainError, lang: str) -> dict[str, Any]:
    return {
        "error": {
            "code": exc.key,
            "message": translate(exc.key, lang, **exc.params),
            "messages": {
                "vi": translate(exc.key, "vi", **exc.params),
                "en": translate(exc.key, "en", **exc.params),
            },
        }
    }


def error_response(request: Request, exc: DomainError) -> JSONResponse:
    """A refusal as JSON in the caller's language (Accept-Language); a throttled one says
    when to come back (Retry-After)."""
    lang = pick_language(request.headers.get("accept-language"))
    headers = (
        {"Retry-After": str(exc.params["seconds"])}
        if isinstance(exc, Locked) and "seconds" in exc.params
        else None
    )
    return JSONResponse(error_body(exc, lang), status_code=http_status(exc), headers=headers)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, exc: DomainError) -> JSONResponse:
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        lang = pick_language(request.headers.get("accept-language"))
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        detail = f"{where}: {first.get('msg', '')}".strip(": ")
        body = error_body(Invalid("request.invalid", detail=detail), lang)
        body["error"]["fields"] = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()
        ]
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        """An unknown path or method (404, 405) in the project's shape for the API; the web
        pages keep their own."""
        if request.url.path.startswith("/ui") or exc.status_code < 400:
            return await http_exception_handler(request, exc)
        lang = pick_language(request.headers.get("accept-language"))
        if exc.status_code == 400:  # FastAPI's "error parsing the body": not UTF-8 JSON
            return JSONResponse(
                error_body(Invalid("request.invalid", detail=str(exc.detail)), lang),
                status_code=422,
            )
        key = {404: "http.not_found", 405: "http.method_not_allowed"}.get(
            exc.status_code, "http.error"
        )
        body = error_body(DomainError(key, status=exc.status_code), lang)
        return JSONResponse(
            body, status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )
