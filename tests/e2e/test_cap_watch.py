"""CAP alerts that nobody posts: files dropped into a watched folder and alerts listed by a
warning centre's Atom index are read on their own, each once; what is refused says why,
beside the file, and nothing read is lost."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.cap import cap_alert
from tests.support.mosquitto import Mosquitto
from tests.support.stack import Stack, wait_for


class Centre:
    """A warning centre's web server: documents by path, ETag answers, hits counted."""

    def __init__(self) -> None:
        self.documents: dict[str, bytes] = {}
        self.hits: Counter[str] = Counter()
        centre = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                centre.hits[self.path] += 1
                body = centre.documents.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                etag = f'"{hash(body) & 0xFFFFFFFF:x}"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def stop(self) -> None:
        self.server.shutdown()


def atom(*links: str) -> bytes:
    entries = "".join(
        f"<entry><id>{link}</id><title>Cảnh báo</title><updated>"
        f'2026-12-01T14:30:00+07:00</updated><link rel="alternate" '
        f'type="application/cap+xml" href="{link}"/></entry>'
        for link in links
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<id>kttv</id><title>KTTV</title><updated>2026-12-01T14:30:00+07:00</updated>"
        f"{entries}</feed>"
    ).encode()


@pytest.fixture
def centre() -> Iterator[Centre]:
    c = Centre()
    yield c
    c.stop()


@pytest.fixture
def station(tmp_path: Path, mosquitto: Mosquitto, centre: Centre) -> Iterator[Stack]:
    s = Stack(
        tmp_path,
        mosquitto.port,
        cap_feeds={
            "hop-thu": {"folder": str(tmp_path / "cap-in"), "poll_s": 5, "test_zone": "thu-nghiem"},
            "kttv": {"url": centre.url("/cap/index.atom"), "poll_s": 5, "test_zone": "thu-nghiem"},
        },
    )
    centre.documents["/cap/index.atom"] = atom()
    s.start()
    s.api.post(
        "/api/zones", json={"id": "thon-dong", "name": "Thôn Đông", "geocodes": ["xa=VN-XA-0001"]}
    ).raise_for_status()
    s.add_zone("thu-nghiem", "Nhóm thử nghiệm")
    s.register("loa-dong", ["thon-dong"])
    s.register("loa-thu", ["thu-nghiem"])
    yield s
    s.stop()


def _feed(s: Stack, name: str) -> dict:
    return {f["name"]: f for f in s.api.get("/api/cap/feeds").json()}[name]


def _broadcasts(s: Stack) -> list[dict]:
    return [b for b in s.api.get("/api/broadcasts").json() if b["repeat_index"] == 0]


def test_files_dropped_in_the_folder_are_read_once_and_filed_with_the_reason(
    station: Stack, tmp_path: Path
):
    s = station
    inbox = tmp_path / "cap-in"
    wait_for(lambda: inbox.is_dir(), what="the folder made on the first poll")
    (inbox / "bao-so-9.xml").write_bytes(cap_alert())
    (inbox / "hong.xml").write_bytes(b"<alert>")
    (inbox / "het-han.xml").write_bytes(cap_alert("OLD-1", expires="2020-01-01T00:00:00+07:00"))
    (inbox / "ghi-chu.txt").write_text("not an alert: left alone")

    wait_for(lambda: not list(inbox.glob("*.xml")), timeout=60, what="the folder read")
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["bao-so-9.xml"]
    refused = inbox / "refused"
    assert sorted(p.name for p in refused.iterdir()) == [
        "het-han.xml",
        "het-han.xml.txt",
        "hong.xml",
        "hong.xml.txt",
    ]
    assert "hết hạn" in (refused / "het-han.xml.txt").read_text()
    assert "not well-formed" in (refused / "hong.xml.txt").read_text()
    assert (refused / "hong.xml").read_bytes() == b"<alert>"  # kept as it came
    assert (inbox / "ghi-chu.txt").exists()
    [b] = wait_for(lambda: _broadcasts(s), what="the alert spoken")
    assert b["priority"] == "emergency"
    assert b["state"] == "pending_confirmation"
    assert b["targets"] == ["zone:thon-dong"]
    feed = _feed(s, "hop-thu")
    assert (feed["received"], feed["refused"], feed["post"]) == (1, 2, False)

    # the same alert dropped again (a second mail of it) is seen, not broadcast twice
    (inbox / "bao-so-9.xml").write_bytes(cap_alert())
    wait_for(lambda: len(list((inbox / "done").iterdir())) == 2, timeout=30, what="the copy filed")
    assert len(_broadcasts(s)) == 1
    alerts = s.api.get("/api/cap").json()
    assert [a["identifier"] for a in alerts] == ["VN-KTTV-2026-0091"]


def test_an_atom_index_is_followed_each_alert_read_once(station: Stack, centre: Centre):
    s = station
    centre.documents["/cap/a1.xml"] = cap_alert("KTTV-A1")
    centre.documents["/cap/t1.xml"] = cap_alert("KTTV-T1", status="Test")
    centre.documents["/cap/index.atom"] = atom("/cap/t1.xml", "a1.xml")  # relative links too

    wait_for(
        lambda: [a["speech"] for a in s.api.get("/api/cap").json()] == ["done", "done"],
        timeout=60,
        what="both read and spoken",
    )
    by_id = {a["identifier"]: a for a in s.api.get("/api/cap").json()}
    assert by_id["KTTV-A1"]["action"] == "emergency"
    assert by_id["KTTV-A1"]["feed"] == "kttv"
    assert by_id["KTTV-T1"]["action"] == "test"
    test = s.get_broadcast(by_id["KTTV-T1"]["broadcast_id"])
    assert test["targets"] == ["zone:thu-nghiem"]  # never the public
    polled = _feed(s, "kttv")["polled_at"]

    # later polls: the index answers 304 (its ETag) and no alert is fetched again
    wait_for(lambda: _feed(s, "kttv")["polled_at"] != polled, timeout=30, what="polled again")
    assert centre.hits["/cap/a1.xml"] == 1
    assert centre.hits["/cap/t1.xml"] == 1
    assert centre.hits["/cap/index.atom"] >= 2
    assert len(_broadcasts(s)) == 2
    # the centre publishes a new alert: the index changes, only the new one is fetched
    centre.documents["/cap/a2.xml"] = cap_alert("KTTV-A2", urgency="Expected")
    centre.documents["/cap/index.atom"] = atom("/cap/a2.xml", "/cap/t1.xml", "/cap/a1.xml")
    wait_for(lambda: len(s.api.get("/api/cap").json()) == 3, timeout=30, what="the new one")
    assert centre.hits["/cap/a1.xml"] == 1
    assert centre.hits["/cap/a2.xml"] == 1
    feed = _feed(s, "kttv")
    assert feed["last_error"] is None
    assert feed["received"] == 3


def test_an_unreachable_or_wrong_feed_url_is_reported_and_broadcasts_nothing(
    station: Stack, centre: Centre
):
    s = station
    centre.documents["/cap/index.atom"] = b"<html>maintenance</html>"
    wait_for(lambda: _feed(s, "kttv")["last_error"], timeout=30, what="the error kept")
    assert "not a CAP alert, an Atom feed or RSS" in _feed(s, "kttv")["last_error"]
    assert _broadcasts(s) == []
    # the technician's view from a terminal
    token = s.api.headers["Authorization"].split()[1]
    shown = subprocess.run(
        [sys.executable, "-m", "loalang.cli", "cap", "feeds"],
        env={**os.environ, "LOALANG_URL": s.base_url, "LOALANG_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert f"kttv (confirm): {centre.url('/cap/index.atom')}" in shown.stdout
    assert "hop-thu (confirm): " in shown.stdout
    assert "not a CAP alert" in shown.stdout
