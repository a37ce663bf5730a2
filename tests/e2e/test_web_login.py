"""Browser sessions: login (every attempt audited, repeated failures lock the name), a cookie
that needs the CSRF token for changes, logout, deactivation."""

from __future__ import annotations

import httpx

from tests.support.stack import Stack


def _browser(stack: Stack, source: str = "127.0.0.1") -> httpx.Client:
    """A browser on a machine of its own (``source``: the address it connects from)."""
    return httpx.Client(
        base_url=stack.base_url, timeout=60, transport=httpx.HTTPTransport(local_address=source)
    )


def test_login_session_csrf_and_logout(stack: Stack):
    stack.person("lan", "broadcaster")
    browser = _browser(stack)
    bad = browser.post("/auth/login", json={"username": "lan", "password": "sai-mat-khau"})
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "auth.bad_login"
    assert "Sai tên đăng nhập" in bad.json()["error"]["message"]  # Vietnamese first
    ghost = browser.post("/auth/login", json={"username": "ma", "password": "x"})
    assert ghost.json()["error"]["code"] == "auth.bad_login"  # no hint whether the name exists

    ok = browser.post("/auth/login", json={"username": "lan", "password": "lan-secret-pw"})
    assert ok.status_code == 200
    assert ok.json()["roles"] == ["broadcaster"]
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie.replace("Lax", "lax")
    csrf = ok.json()["csrf"]
    assert browser.get("/api/me").json()["username"] == "lan"

    no_csrf = browser.post("/api/stop", json={"targets": ["all"]})
    assert no_csrf.status_code == 403
    assert no_csrf.json()["error"]["code"] == "auth.csrf"
    with_csrf = browser.post("/api/stop", json={}, headers={"X-CSRF-Token": csrf})
    assert with_csrf.status_code == 422  # past authentication, the body is what is wrong

    assert browser.post("/auth/logout").status_code == 204
    assert browser.get("/api/me").status_code == 401
    log = [
        (e["actor"], e["action"], e["outcome"])
        for e in stack.api.get("/api/audit", params={"action": "auth.log"}).json()
    ]
    assert ("lan", "auth.login", "denied") in log
    assert ("lan", "auth.login", "ok") in log
    assert ("ma", "auth.login", "denied") in log
    assert ("lan", "auth.logout", "ok") in log


def test_deactivation_ends_sessions(stack: Stack):
    stack.person("hoa", "approver")
    browser = _browser(stack)
    assert (
        browser.post(
            "/auth/login", json={"username": "hoa", "password": "hoa-secret-pw"}
        ).status_code
        == 200
    )
    assert browser.get("/api/me").status_code == 200
    stack.api.patch("/api/users/hoa", json={"active": False})
    assert browser.get("/api/me").status_code == 401  # her open session stops at once


def _try(browser: httpx.Client, username: str, password: str) -> httpx.Response:
    return browser.post("/auth/login", json={"username": username, "password": password})


def test_a_stranger_on_the_stations_own_address_cannot_lock_the_approver_out(tmp_path, mosquitto):
    """Everyone behind the commune office's one router shares an address. A stranger there
    guessing ``duyet``'s password is slowed, then refused; the approver's own browser, which
    logged in to ``duyet`` before, is not held back by the stranger's failures."""
    stack = Stack(tmp_path, mosquitto.port, login_slowdown_max_s=1.0).start()
    stack.person("duyet", "approver")
    office = "127.0.0.1"
    approver = _browser(stack, office)
    assert _try(approver, "duyet", "duyet-secret-pw").status_code == 200  # a known device now
    assert approver.post("/auth/logout").status_code == 204

    stranger = _browser(stack, office)
    codes = [_try(stranger, "duyet", "doan-bua").status_code for _ in range(3)]
    assert codes == [401, 401, 401]
    slowed = _try(stranger, "duyet", "doan-bua-nua")
    assert slowed.status_code == 429
    assert slowed.json()["error"]["code"] == "auth.slowed"
    assert int(slowed.headers["retry-after"]) >= 1
    # the real approver, same address, right password: in at once
    assert _try(approver, "duyet", "duyet-secret-pw").status_code == 200
    assert approver.get("/api/me").json()["username"] == "duyet"

    # a stranger who waits out every slow-down is refused after ten failures from there
    import time

    for _ in range(7):
        while (r := _try(stranger, "duyet", "sai")).status_code == 429:
            assert r.json()["error"]["code"] == "auth.slowed"
            time.sleep(int(r.headers["retry-after"]))
        assert r.status_code == 401
    refused = _try(stranger, "duyet", "duyet-secret-pw")  # even the right one, from there
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "auth.locked"
    assert _try(approver, "duyet", "duyet-secret-pw").status_code == 200  # still not her
    # ... and from another address the name is not locked
    assert _try(_browser(stack, "127.0.0.2"), "duyet", "duyet-secret-pw").status_code == 200
    audit = stack.api.get("/api/audit", params={"action": "auth.login"}).json()
    assert {e["detail"].get("scope") for e in audit if e["outcome"] == "throttled"} == {
        "name_and_address"
    }
    assert "duyet" in stack.services.accounts.locked()  # the admin page offers an unlock
    assert stack.api.post("/api/users/duyet/unlock").status_code == 200
    while (r := _try(stranger, "duyet", "duyet-secret-pw")).status_code == 429:
        assert r.json()["error"]["code"] == "auth.slowed"  # (the address still slowed a bit)
        time.sleep(int(r.headers["retry-after"]))
    assert r.status_code == 200
    stack.stop()


def test_one_address_trying_every_name_is_slowed(stack: Stack):
    guesser = _browser(stack, "127.0.0.3")
    codes = [_try(guesser, f"ten-{k}", "mat-khau").status_code for k in range(10)]
    assert codes == [401] * 10
    slowed = _try(guesser, "ten-10", "mat-khau")
    assert slowed.status_code == 429
    assert slowed.json()["error"]["code"] == "auth.slowed"
    audit = stack.api.get("/api/audit", params={"action": "auth.login"}).json()
    assert [e["detail"]["scope"] for e in audit if e["outcome"] == "throttled"] == ["address"]
    # a person elsewhere is not slowed by it
    stack.person("lan", "broadcaster")
    assert _try(_browser(stack, "127.0.0.4"), "lan", "lan-secret-pw").status_code == 200


def test_deactivation_is_for_good_and_a_new_password_ends_every_session(stack: Stack):
    token = stack.person("hoa", "approver").headers["Authorization"]
    browser = _browser(stack)
    assert (
        browser.post(
            "/auth/login", json={"username": "hoa", "password": "hoa-secret-pw"}
        ).status_code
        == 200
    )
    stack.api.patch("/api/users/hoa", json={"active": False})
    stack.api.patch("/api/users/hoa", json={"active": True})
    assert browser.get("/api/me").status_code == 401  # the old cookie does not come back
    with httpx.Client(base_url=stack.base_url, headers={"Authorization": token}) as cli:
        assert cli.get("/api/me").status_code == 401  # nor the old token

    assert (
        browser.post(
            "/auth/login", json={"username": "hoa", "password": "hoa-secret-pw"}
        ).status_code
        == 200
    )
    assert browser.get("/api/me").status_code == 200
    stack.api.patch("/api/users/hoa", json={"password": "mat-khau-moi-2026"})
    assert browser.get("/api/me").status_code == 401  # whoever knew the old one is out
    assert (
        browser.post(
            "/auth/login", json={"username": "hoa", "password": "mat-khau-moi-2026"}
        ).status_code
        == 200
    )


def test_bad_tokens_from_one_address_write_one_audit_row_a_minute(stack: Stack):
    stranger = httpx.Client(base_url=stack.base_url, headers={"Authorization": "Bearer nope"})
    for _ in range(50):
        assert stranger.get("/api/devices").status_code == 401
    rows = [
        r
        for r in stack.api.get("/api/audit", params={"action": "auth.failed"}).json()
        if r["target"] == "/api/devices"
    ]
    assert len(rows) == 1
    assert rows[0]["ip"] == "127.0.0.1"


def test_unknown_paths_and_methods_answer_in_the_projects_shape(stack: Stack):
    r = stack.api.get("/api/khong-co")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "http.not_found"
    r = stack.api.delete("/api/zones")
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "http.method_not_allowed"
    r = stack.api.post(
        "/api/zones", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "request.invalid"
    spec = stack.api.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if path.startswith("/api/"):
                assert {"401", "403", "422"} <= set(op["responses"]), (method, path)
