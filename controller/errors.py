"""API errors that carry a catalogue key, so every 4xx says what went wrong in the user's language."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from .i18n import pick_language, translate


class ApiError(Exception):
    """An error a user can act on: HTTP status, message key and its parameters."""

    def __init__(self, status: int, key: str, **params: Any):
        super().__init__(key)
        self.status = status
        self.key = key
        self.params = params

    def body(self, lang: str) -> dict[str, Any]:
        return {
            "error": {
                "code": self.key,
                "message": translate(self.key, lang, **self.params),
                "messages": {
                    "vi": translate(self.key, "vi", **self.params),
                    "en": translate(self.key, "en", **self.params),
                },
            }
        }


def api_error_response(request: Request, exc: ApiError) -> JSONResponse:
    """An ``ApiError`` as JSON in the caller's language (Accept-Language)."""
    lang = pick_language(request.headers.get("accept-language"))
    return JSONResponse(exc.body(lang), status_code=exc.status)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return api_error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        lang = pick_language(request.headers.get("accept-language"))
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        detail = f"{where}: {first.get('msg', '')}".strip(": ")
        err = ApiError(422, "request.invalid", detail=detail)
        body = err.body(lang)
        body["error"]["fields"] = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()
        ]
        return JSONResponse(body, status_code=422)
