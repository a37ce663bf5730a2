"""Bodies are refused before they are read: a 300 MB login body, a 250 MB upload with a
made-up session, a chunked upload past the limit — each answered at once, nothing stored."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from tests.support.mosquitto import Mosquitto
from tests.support.stack import Stack


@pytest.fixture
def stack(tmp_path: Path, mosquitto: Mosquitto):
    s = Stack(tmp_path, mosquitto.port, max_upload_bytes=2 * 1024 * 1024).start()
    yield s
    s.stop()


def _announce(stack: Stack, path: str, length: int, headers: str = "") -> int:
    """Send only the headers of a ``length``-byte POST and a first KB: the status that comes
    back (an answer at all proves the server did not wait for the rest)."""
    with socket.create_connection(("127.0.0.1", stack.http_port), timeout=10) as sock:
        sock.sendall(
            (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {length}\r\n"
                f"Content-Type: multipart/form-data; boundary=x\r\n{headers}\r\n"
            ).encode()
        )
        sock.sendall(b"x" * 1024)
        answer = sock.recv(4096).decode(errors="replace")
    return int(answer.split()[1])


def test_huge_bodies_are_refused_at_their_headers(stack: Stack):
    status = _announce(stack, "/auth/login", 300 * 1024 * 1024)
    assert status == 413  # answered with 1 KB of the 300 MB sent: it never waited for more
    status = _announce(stack, "/ui/send", 250 * 1024 * 1024, "Cookie: loalang_session=bia-dat\r\n")
    assert status == 413  # above the upload limit: refused before who is asking
    status = _announce(stack, "/ui/send", 1024 * 1024, "Cookie: loalang_session=bia-dat\r\n")
    assert status == 303  # within it, but nobody logged in: to the login page, not a byte read
    status = _announce(stack, "/api/media", 1024 * 1024)
    assert status == 401


def test_a_chunked_upload_is_cut_off_at_the_limit_and_nothing_is_stored(stack: Stack):
    token = stack.api.headers["Authorization"]

    def chunks():  # a well-formed form whose file never ends: 4 MiB, no length announced
        yield (
            b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
            b"Content-Type: audio/wav\r\n\r\n"
        )
        for _ in range(64):
            yield b"\0" * 65536

    r = httpx.post(
        f"{stack.base_url}/api/media",
        content=chunks(),
        timeout=30,
        headers={"Authorization": token, "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "upload.too_large"
    assert stack.api.get("/api/media").json() == []
    big = httpx.post(
        f"{stack.base_url}/api/zones",
        content=b"{" + b" " * (5 * 2**20) + b"}",
        headers={"Authorization": token, "Content-Type": "application/json"},
    )
    assert big.status_code == 413  # any other body: 4 MiB at most


def test_ids_too_large_for_the_database_and_booleans_for_numbers_are_a_clear_422(stack: Stack):
    """Once a 500 (OverflowError in SQLite), and JSON false taken as 0."""
    api = stack.api
    stack.add_zone("thon-dong")
    stack.register("loa-1", ["thon-dong"])
    huge = "9" * 20
    for method, path, body in (
        ("POST", f"/api/schedule-changes/{huge}/approve", None),
        ("POST", f"/api/schedule-changes/{huge}/reject", {"reason": "x"}),
        ("POST", f"/api/alarms/{huge}/ack", {"by": "minh"}),
        ("POST", f"/api/users/admin/tokens/{huge}/revoke", None),
    ):
        r = api.request(method, path, json=body)
        assert r.status_code == 422, (path, r.status_code, r.text)
    for path, body in (
        ("/api/devices/loa-1/volume", {"level": False}),
        ("/api/devices/loa-1/location", {"latitude": False, "longitude": 105}),
    ):
        r = api.put(path, json=body)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["error"]["code"] == "request.invalid"
    device = api.get("/api/devices/loa-1").json()
    assert device["latitude"] is None
    assert device["volume"] in (None, 100)


def test_every_route_checks_the_log_in_before_the_body_and_every_oversize_body_is_413(stack: Stack):
    """A stranger's body is never parsed or validated: 401 before anything, on every route
    that takes one (``/api/speech`` once answered 422 to a stranger's bad body). And an
    oversize body, chunked, is 413 on every route, not "error parsing body"."""
    from controller.body_limits import PUBLIC

    spec = stack.api.get("/openapi.json").json()
    routes = [
        (method.upper(), path.replace("{", "").replace("}", ""))
        for path, ops in spec["paths"].items()
        for method in ops
        if method in ("post", "put", "patch") and path not in PUBLIC
    ]
    with_body = [
        (method.upper(), path.replace("{", "").replace("}", ""))
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if method in ("post", "put", "patch") and path not in PUBLIC and "requestBody" in op
    ]
    assert len(with_body) > 20
    assert len(routes) > 40
    stranger = httpx.Client(base_url=stack.base_url, timeout=30)
    for method, path in routes:
        r = stranger.request(
            method, path, content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 401, (method, path, r.status_code, r.text[:200])
        assert r.json()["error"]["code"] == "auth.required"

    def oversize():  # 5 MiB of JSON, no length announced
        yield b'{"x": "'
        for _ in range(80):
            yield b"x" * 65536
        yield b'"}'

    token = stack.api.headers["Authorization"]
    for method, path in with_body:
        if path in ("/api/media", "/api/releases"):
            continue  # uploads: their own, larger limit (above)
        r = httpx.request(
            method,
            f"{stack.base_url}{path}",
            content=oversize(),
            timeout=30,
            headers={"Authorization": token, "Content-Type": "application/json"},
        )
        assert r.status_code == 413, (method, path, r.status_code, r.text[:200])
        assert r.json()["error"]["code"] == "upload.too_large"
    r = stranger.post(
        "/auth/login", content=oversize(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413  # the public ones too
