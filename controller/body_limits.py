"""Request bodies are limited while they stream in, and the sender of any body is checked
before a byte of it is read: a 300 MB login body, or a 250 MB upload with a made-up session
cookie, is refused at its headers; a chunked body is cut off at the limit (nothing spooled
beyond) and answered 413, whatever the route made of the cut; a body without a valid log-in
is answered 401 (a page: to the log-in page) before it is parsed or validated, on every route
but the few that check their own callers (``PUBLIC``).

A pure ASGI middleware around the app (HTTP only; the live microphone's WebSocket limits its
own frames)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any

from anyio import to_thread

from .domain.errors import DomainError, TooLarge, Unauthenticated
from .errors import error_body, http_status
from .http import SESSION_COOKIE
from .i18n import pick_language

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

BODY_LIMIT = 4 * 1024 * 1024  # any JSON or form: a schedule set, a CAP alert (2 MiB) fit
UPLOAD_PATHS = (
    "/api/media",
    "/ui/send",  # audio files: up to max_upload_bytes, logged in only
    "/api/releases",
    "/ui/updates/releases",  # agent releases (wheels)
)
VOICE_PATHS = ("/api/speech/voices", "/ui/speech/voices")
"""Piper voices: a model of 20-120 MB and its config, limited by what a model may weigh (not
by the station's audio upload limit)."""
VOICE_LIMIT = 300 * 1024 * 1024 + 2 * 1024 * 1024
MULTIPART_SLACK = 1024 * 1024  # the form's other fields and boundaries around the file
PUBLIC = ("/auth/login", "/auth/logout", "/ui/login", "/icecast/auth", "/api/cap")
"""Where a body comes without a person's log-in: logging in, Icecast's questions (its own
key), CAP feeds (their own tokens, checked before the body is read)."""


class _Cut(Exception):
    """The body went past its limit while it streamed in."""


class BodyLimits:
    def __init__(
        self,
        app: Callable[[Scope, Receive, Send], Awaitable[None]],
        services: Any,
        body_limit: int = BODY_LIMIT,
    ):
        self.app = app
        self.services = services
        self.body_limit = body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        upload = scope["path"] in UPLOAD_PATHS
        limit = (
            VOICE_LIMIT
            if scope["path"] in VOICE_PATHS
            else self.services.settings.max_upload_bytes + MULTIPART_SLACK
            if upload
            else self.body_limit
        )
        lang = pick_language(headers.get("accept-language"))
        too_large = TooLarge("upload.too_large", limit_mb=max(1, limit // 2**20))
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            await _refuse(send, too_large, lang)
            return
        if scope["path"] not in PUBLIC and not await to_thread.run_sync(
            self._signed_in, headers, scope
        ):
            if scope["path"].startswith("/ui/"):  # a browser goes to log in, as on any page
                await send(
                    {
                        "type": "http.response.start",
                        "status": 303,
                        "headers": [
                            (b"location", b"/ui/login"),
                            (b"content-length", b"0"),
                            (b"connection", b"close"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
            else:
                await _refuse(send, Unauthenticated("auth.required"), lang)
            return
        seen = 0
        started = cut = False

        async def limited() -> Message:
            nonlocal seen, cut
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    cut = True
                    raise _Cut
            return message

        async def watch(message: Message) -> None:
            nonlocal started
            if cut:  # the route answered the cut its own way ("error parsing body"): 413
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _refuse(send, too_large, lang)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited, watch)
        except _Cut:
            if not started:
                await _refuse(send, too_large, lang)

    def _signed_in(self, headers: dict[str, str], scope: Scope) -> bool:
        """A valid bearer token or session cookie (its permission is the route's to check)."""
        accounts = self.services.accounts
        ip = (scope.get("client") or ("", 0))[0]
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return accounts.for_token(token.strip(), ip) is not None
        cookie = SimpleCookie(headers.get("cookie", "")).get(SESSION_COOKIE)
        return cookie is not None and accounts.for_cookie(cookie.value, ip) is not None


async def _refuse(send: Send, exc: DomainError, lang: str) -> None:
    body = json.dumps(error_body(exc, lang), ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": http_status(exc),
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
