"""Logging in and out, and the reader's language."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...auth import Principal
from ...domain.errors import DomainError
from ...errors import http_status
from ...http import ServicesDep, client_ip, end_session, known_cookie, set_session_cookie
from ...i18n import LANGUAGES
from ..render import lang_of, page, render, words

router = APIRouter(prefix="/ui", tags=["web"], include_in_schema=False)


def _safe_next(target: str) -> str:
    return target if target.startswith("/ui") else "/ui/"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/ui/") -> HTMLResponse:
    return render(request, "login.html", None, next=_safe_next(next))


@router.post("/login", response_class=HTMLResponse)
async def login_submit(request: Request, svc: ServicesDep) -> Response:
    form = await request.form()
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    target = str(form.get("next", "/ui/"))
    try:
        result = await run_in_threadpool(
            svc.accounts.attempt_login,
            username,
            password,
            client_ip(request),
            known_cookie(request, username),
        )
    except DomainError as exc:
        return render(
            request,
            "login.html",
            None,
            status_code=http_status(exc),
            next=target,
            error=words(exc, lang_of(request)),
            username=username,
        )
    response = RedirectResponse(_safe_next(target), status_code=303)
    set_session_cookie(svc, response, result)
    return response


@router.post("/logout")
def logout(request: Request, svc: ServicesDep, who: Principal = page("account.self")) -> Response:
    response = RedirectResponse("/ui/login", status_code=303)
    end_session(svc, request, response)
    return response


@router.get("/lang/{code}")
def set_language(code: str, request: Request) -> RedirectResponse:
    back = request.headers.get("referer") or "/ui/"
    response = RedirectResponse(back, status_code=303)
    if code in LANGUAGES:
        response.set_cookie("lang", code, max_age=365 * 86400, samesite="lax", path="/")
    return response


@router.get("/account", response_class=HTMLResponse)
def account_page(
    request: Request, svc: ServicesDep, who: Principal = page("account.self")
) -> HTMLResponse:
    """Your name, roles and password."""
    return render(request, "account.html", who, me=svc.accounts.me(who))
