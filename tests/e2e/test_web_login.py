"""Browser sessions: login (every attempt audited, repeated failures lock the name), a cookie
that needs the CSRF token for changes, logout, deactivation."""

from __future__ import annotations

import httpx

from tests.support.stack import Stack


def _browser(stack: Stack, source: str = "127.0.0.1") -> httpx.Client:
    """A browser on a machine of its own (``source``: the address it connects from)."""
    return httpx.Client(base_url=stack.base_url, timeout=60,
                        transport=httpx.HTTPTransport(local_address=source))


def test_login_session_csrf_and_logout(stack: Stack):
    stack.person("lan", "broadcaster")
    browser = _browser(stack)
    bad = browser.post("/auth/login", json={"username": "lan", "password": "sai-mat-khau"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "auth.bad_login"
    assert "Sai tên đăng nhập" in bad.json()["error"]["message"]  # Vietnamese first
    ghost = browser.post("/auth/login", json={"username": "ma", "password": "x"})
    assert ghost.json()["error"]["code"] == "auth.bad_login"  # no hint whether the name exists

    ok = browser.post("/auth/login", json={"username": "lan", "password": "lan-secret-pw"})
    assert ok.status_code == 200 and ok.json()["roles"] == ["broadcaster"]
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    csrf = ok.json()["csrf"]
    assert browser.get("/api/me").json()["username"] == "lan"

    no_csrf = browser.post("/api/stop", json={"targets": ["all"]})
    assert no_csrf.status_code == 403 and no_csrf.json()["error"]["code"] == "auth.csrf"
    with_csrf = browser.post("/api/stop", json={}, headers={"X-CSRF-Token": csrf})
    assert with_csrf.status_code == 422  # past authentication, the body is what is wrong

    assert browser.post("/auth/logout").status_code == 204
    assert browser.get("/api/me").status_code == 401
    log = [(e["actor"], e["action"], e["outcome"])
           for e in stack.api.get("/api/audit", params={"action": "auth.log"}).json()]
    assert ("lan", "auth.login", "denied") in log and ("lan", "auth.login", "ok") in log
    assert ("ma", "auth.login", "denied") in log and ("lan", "auth.logout", "ok") in log


def test_repeated_failures_lock_the_name_and_deactivation_ends_sessions(stack: Stack):
    stack.person("hoa", "approver")
    browser = _browser(stack)
    assert browser.post("/auth/login", json={"username": "hoa", "password": "hoa-secret-pw"}
                        ).status_code == 200
    assert browser.get("/api/me").status_code == 200
    stack.api.patch("/api/users/hoa", json={"active": False})
    assert browser.get("/api/me").status_code == 401  # her open session stops at once

    stack.person("minh", "technician")
    guesser = _browser(stack)
    for _ in range(5):
        assert guesser.post("/auth/login", json={"username": "minh", "password": "doan-bua"}
                            ).status_code == 401
    locked = guesser.post("/auth/login", json={"username": "minh", "password": "minh-secret-pw"})
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "auth.locked"
    # ... from that address only: the real technician on another machine still logs in
    elsewhere = _browser(stack, "127.0.0.2")
    assert elsewhere.post("/auth/login", json={"username": "minh",
                                               "password": "minh-secret-pw"}).status_code == 200


def test_deactivation_is_for_good_and_a_new_password_ends_every_session(stack: Stack):
    token = stack.person("hoa", "approver").headers["Authorization"]
    browser = _browser(stack)
    assert browser.post("/auth/login", json={"username": "hoa", "password": "hoa-secret-pw"}
                        ).status_code == 200
    stack.api.patch("/api/users/hoa", json={"active": False})
    stack.api.patch("/api/users/hoa", json={"active": True})
    assert browser.get("/api/me").status_code == 401  # the old cookie does not come back
    with httpx.Client(base_url=stack.base_url, headers={"Authorization": token}) as cli:
        assert cli.get("/api/me").status_code == 401  # nor the old token

    assert browser.post("/auth/login", json={"username": "hoa", "password": "hoa-secret-pw"}
                        ).status_code == 200
    assert browser.get("/api/me").status_code == 200
    stack.api.patch("/api/users/hoa", json={"password": "mat-khau-moi-2026"})
    assert browser.get("/api/me").status_code == 401  # whoever knew the old one is out
    assert browser.post("/auth/login", json={"username": "hoa",
                                             "password": "mat-khau-moi-2026"}).status_code == 200


def test_bad_tokens_from_one_address_write_one_audit_row_a_minute(stack: Stack):
    stranger = httpx.Client(base_url=stack.base_url, headers={"Authorization": "Bearer nope"})
    for _ in range(50):
        assert stranger.get("/api/devices").status_code == 401
    rows = [r for r in stack.api.get("/api/audit", params={"action": "auth.failed"}).json()
            if r["target"] == "/api/devices"]
    assert len(rows) == 1 and rows[0]["ip"] == "127.0.0.1"


def test_unknown_paths_and_methods_answer_in_the_projects_shape(stack: Stack):
    r = stack.api.get("/api/khong-co")
    assert r.status_code == 404 and r.json()["error"]["code"] == "http.not_found"
    r = stack.api.delete("/api/zones")
    assert r.status_code == 405 and r.json()["error"]["code"] == "http.method_not_allowed"
    r = stack.api.post("/api/zones", content=b"{not json", headers={
        "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "request.invalid"
    spec = stack.api.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if path.startswith("/api/"):
                assert {"401", "403", "422"} <= set(op["responses"]), (method, path)
