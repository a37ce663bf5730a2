"""Deny by default: every route of the app names a permission, and every route is called with
a role it allows and one it denies. The list comes from the app itself, so a new route without
a permission fails here."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from fastapi.routing import APIRoute

from controller.auth import PERMISSIONS, Role
from controller.http import Allow
from tests.support.mosquitto import Mosquitto
from tests.support.stack import Stack

PUBLIC = {  # deliberately open: liveness, and what a Pi fetches to install itself
    ("GET", "/healthz"),
    ("GET", "/edge/install.sh"),
    ("GET", "/edge/loalang-agent.service"),
    ("GET", "/edge/loalang-agent.tar.gz"),
    ("POST", "/auth/login"),  # who you are is what it establishes
    ("POST", "/auth/logout"),  # ends the caller's own session, if any
    ("GET", "/"),  # redirects to the web UI
    ("GET", "/favicon.ico"),  # the browser asks on every page, logged in or not
    ("GET", "/ui/login"),
    ("POST", "/ui/login"),
    ("GET", "/ui/lang/{code}"),  # sets the language cookie
    ("POST", "/api/cap"),  # a warning centre's feed: its own token (tests/e2e/test_cap.py)
    ("POST", "/icecast/auth"),  # the station's Icecast: its own key (tests/e2e/test_live.py)
    ("GET", "/tls/ca.crt"),  # a public certificate, to trust before logging in over HTTPS
    # the station's public listen-again page, feed and QR (tests/e2e/test_public.py)
    ("GET", "/nghe"),
    ("GET", "/nghe/b/{slug}"),
    ("GET", "/nghe/audio/{slug}.ogg"),
    ("GET", "/nghe/rss.xml"),
    ("GET", "/nghe/qr.svg"),
}
PLACEHOLDERS = {
    "sha256": "0" * 64,
    "alarm_id": "999999",
    "change_id": "999999",
    "token_id": "999999",
}


def permission_of(route: APIRoute) -> str | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Allow):
            return dep.call.permission
        stack.extend(dep.dependencies)
    return None


@pytest.fixture(scope="module")
def roles_stack(tmp_path_factory) -> Iterator[tuple[Stack, dict[Role, httpx.Client]]]:
    tmp = tmp_path_factory.mktemp("roles")
    broker = Mosquitto(tmp / "mosquitto").start()
    stack = Stack(tmp, broker.port).start()
    clients = {role: stack.person(f"nguoi-{role.value}", role.value) for role in Role}
    yield stack, clients
    for client in clients.values():
        client.close()
    stack.stop()
    broker.stop()


pytestmark = pytest.mark.e2e


def _api_routes(routes) -> Iterator[APIRoute]:  # type: ignore[no-untyped-def]
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # FastAPI >= 0.16x keeps included routers
            yield from _api_routes(route.original_router.routes)


def _routes(app) -> list[tuple[str, str, APIRoute]]:  # type: ignore[no-untyped-def]
    found = [
        (method, route.path, route)
        for route in _api_routes(app.routes)
        for method in sorted(route.methods)
    ]
    # whatever FastAPI does inside, nothing the app serves may escape the walk
    documented = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops}
    assert documented <= {(m, p) for m, p, _ in found}, documented - {(m, p) for m, p, _ in found}
    return found


def _call(client: httpx.Client, method: str, path: str) -> httpx.Response:
    """Status and headers only: the live event stream never ends by itself."""
    url = re.sub(r"\{(\w+)\}", lambda m: PLACEHOLDERS.get(m.group(1), "khong-co"), path)
    body = {} if method in ("POST", "PUT", "PATCH") else None
    request = client.build_request(method, url, json=body)
    response = client.send(request, stream=True)
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        response.close()
    else:
        response.read()
    return response


def test_every_route_names_a_known_permission(roles_stack):
    stack, _ = roles_stack
    app = stack.server.app  # type: ignore[union-attr]
    unprotected = [
        f"{m} {p}" for m, p, r in _routes(app) if (m, p) not in PUBLIC and permission_of(r) is None
    ]
    assert unprotected == []
    unknown = {permission_of(r) for _, _, r in _routes(app)} - set(PERMISSIONS) - {None}
    assert unknown == set()


def test_each_route_allows_its_roles_and_denies_the_others(roles_stack):
    stack, clients = roles_stack
    anonymous = httpx.Client(base_url=stack.base_url, timeout=60)
    checked = 0
    for method, path, route in _routes(stack.server.app):  # type: ignore[union-attr]
        if (method, path) in PUBLIC:
            continue
        permission = permission_of(route)
        allowed = sorted(PERMISSIONS[permission], key=lambda r: r.value)
        denied = sorted(set(Role) - set(allowed), key=lambda r: r.value)
        where = f"{method} {path} ({permission})"
        page = path.startswith("/ui/")
        r = _call(anonymous, method, path)
        if page:  # a browser without a session is sent to log in
            assert r.status_code == 303, where
            assert r.headers["location"].startswith("/ui/login"), where
        else:
            assert r.status_code == 401, where
        r = _call(clients[allowed[0]], method, path)
        assert r.status_code not in (401, 403), (where, allowed[0], r.status_code)
        if denied:
            r = _call(clients[denied[0]], method, path)
            assert r.status_code == 403, (where, denied[0], r.status_code)
            if not page:
                assert r.json()["error"]["code"] == "auth.forbidden"
        checked += 1
    assert checked >= 30


def test_refusals_are_in_the_audit_log(roles_stack):
    """Its own person and a count taken first: what the other tests did cannot satisfy it."""
    stack, _ = roles_stack

    def failed() -> int:
        log = stack.api.get("/api/audit", params={"action": "auth.failed"}).json()
        return len([e for e in log if e["action"] == "auth.failed"])

    failed_before = failed()
    with stack.person("nguoi-kiem-tra-nhat-ky", Role.broadcaster.value) as someone:
        assert someone.get("/api/audit").status_code == 403
    assert (
        httpx.get(
            stack.base_url + "/api/devices", headers={"Authorization": "Bearer nope"}
        ).status_code
        == 401
    )
    log = stack.api.get("/api/audit", params={"action": "auth."}).json()
    [forbidden] = [e for e in log if e["actor"] == "nguoi-kiem-tra-nhat-ky"]
    assert forbidden["action"] == "auth.forbidden"
    assert forbidden["outcome"] == "denied"
    assert forbidden["ip"] == "127.0.0.1"
    assert failed() == failed_before + 1
