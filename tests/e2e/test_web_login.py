"""Browser sessions: login (every attempt audited, repeated failures lock the name), a cookie
that needs the CSRF token for changes, logout, deactivation."""

from __future__ import annotations

import httpx

from tests.support.stack import Stack


def _browser(stack: Stack) -> httpx.Client:
    return httpx.Client(base_url=stack.base_url, timeout=60)


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
