"""The report over HTTP, on a running controller with a month of history: the page, the
downloads, the CLI, and the provincial export API (paged, filtered, its own token)."""

from __future__ import annotations

import io
import subprocess
import sys

from pypdf import PdfReader

from tests.support.history import write_month

MONTH = {"from": "2026-11-01T00:00:00", "to": "2026-12-01T00:00:00"}  # station time


def test_export_api_pages_filters_and_keeps_to_its_token(stack, tmp_path):
    assert stack.services is not None
    written = write_month(stack.services.sessions)
    province = stack.person("tinh", "province")
    broadcaster = stack.person("phat-thanh", "broadcaster")

    # paged: 90 bulletins in pages of 40, oldest first, each with every cluster's outcome
    seen, offset = [], 0
    while offset is not None:
        r = province.get(
            "/api/export/v1/bulletins", params={**MONTH, "limit": 40, "offset": offset}
        )
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["total"] == 90
        assert page["limit"] == 40
        seen += page["items"]
        offset = page["next_offset"]
    assert len(seen) == 90 == len({b["id"] for b in seen})
    assert [b["start_at"] for b in seen] == sorted(b["start_at"] for b in seen)
    assert all(b["start_at"].endswith("+07:00") for b in seen)  # station time, with offset
    assert all(sum(b["outcomes"].values()) == 6 == len(b["deliveries"]) for b in seen)
    by_state: dict[str, int] = {}
    for _, _, state, _ in written.deliveries:
        by_state[state] = by_state.get(state, 0) + 1
    assert sum(b["outcomes"].get("played", 0) for b in seen) == by_state["played"]
    assert sum(b["outcomes"].get("fault", 0) for b in seen) == by_state["fault"]
    assert sum(b["outcomes"].get("failed", 0) for b in seen) == by_state["failed"]

    # filtered: one day holds its three bulletins
    day = province.get(
        "/api/export/v1/bulletins",
        params={"from": "2026-11-10T00:00:00+07:00", "to": "2026-11-11T00:00:00+07:00"},
    ).json()
    assert day["total"] == 3
    assert all(b["start_at"].startswith("2026-11-10") for b in day["items"])

    alarms = province.get("/api/export/v1/alarms", params={**MONTH, "limit": 1000}).json()
    assert alarms["total"] == sum(written.start <= a[1] < written.end for a in written.alarms)
    devices = province.get("/api/export/v1/devices", params={"limit": 2}).json()
    assert devices["total"] == 6
    assert len(devices["items"]) == 2
    assert devices["next_offset"] == 2
    schema = province.get("/api/export/v1/schema").json()
    assert "items" in schema["bulletins"]["properties"]

    # bad input is refused in words, nothing else changes
    r = province.get("/api/export/v1/bulletins", params={"from": MONTH["to"], "to": MONTH["from"]})
    assert r.status_code == 422
    assert "kết thúc trước" in r.json()["error"]["message"]
    assert province.get("/api/export/v1/bulletins", params={**MONTH, "limit": 0}).status_code == 422

    # its token reads the export, and nothing else; others' do not read the export
    anonymous = stack.person("ky-thuat", "technician")
    anonymous.headers["Authorization"] = "Bearer wrong-token"
    assert anonymous.get("/api/export/v1/bulletins", params=MONTH).status_code == 401
    assert broadcaster.get("/api/export/v1/devices").status_code == 403
    for method, path in (
        ("get", "/api/broadcasts"),
        ("get", "/api/reports/station"),
        ("post", "/api/stop"),
    ):
        assert getattr(province, method)(path).status_code == 403, path


def _cli(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loalang.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_report_page_downloads_and_cli(stack, tmp_path):
    assert stack.services is not None
    write_month(stack.services.sessions)
    broadcaster = stack.person("phat-thanh", "broadcaster")
    page = broadcaster.get("/ui/reports", params={"month": "2026-11"})
    assert page.status_code == 200
    for words in (
        "Báo cáo hoạt động — 11/2026",
        "Thôn Đông",
        "Cụm loa-cho",
        "30/11/2026",
        "/api/reports/station.pdf?month=2026-11",
    ):
        assert words in page.text, words
    bad = broadcaster.get("/ui/reports", params={"month": "2026-1x"})
    assert bad.status_code == 200
    assert "Tháng không hợp lệ" in bad.text

    pdf = broadcaster.get("/api/reports/station.pdf", params={"month": "2026-11"})
    assert pdf.headers["content-type"] == "application/pdf"
    assert "Thôn Đoài" in PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    csv = broadcaster.get(
        "/api/reports/station.csv", params={"month": "2026-11", "kind": "equipment"}
    )
    assert csv.content.startswith(b"\xef\xbb\xbfC\xe1\xbb\xa5m loa")  # BOM, "Cụm loa"

    out = tmp_path / "bao-cao.csv"
    token = broadcaster.headers["Authorization"].split()[1]
    result = _cli(
        [
            "report",
            "--month",
            "2026-11",
            "--format",
            "csv",
            "--kind",
            "villages",
            "--out",
            str(out),
            "--url",
            stack.base_url,
            "--token",
            token,
        ],
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("Thôn,Số bản tin")
    assert len(lines) == 4
    result = _cli(
        [
            "report",
            "--month",
            "2026-13",
            "--url",
            stack.base_url,
            "--token",
            token,
            "--out",
            str(tmp_path / "x.pdf"),
        ],
    )
    assert result.returncode == 1
    assert not (tmp_path / "x.pdf").exists()
