"""The station in a real headless Chromium (Debian's, driven by Playwright; nothing is
downloaded): a broadcaster sends a bulletin to three villages, an approver releases it, the
three demo agents turn "played" live; a technician sees an agent go offline when its process
stops; bad input gets a clear Vietnamese message and stores nothing. Screenshots are kept in
test-artifacts/screenshots/."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.demo import running_demo

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
PASSWORD = "mat-khau-thu-nghiem"
MAX_UPLOAD = 3 * 1024 * 1024


def _cli(*args: str, env: dict, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "loalang.cli", *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("browser")
    with running_demo(tmp, LOALANG_MAX_UPLOAD_BYTES=str(MAX_UPLOAD)) as running:
        for user, role in (("lan", "broadcaster"), ("chu-tich", "approver"),
                           ("minh", "technician")):
            made = _cli("user", "add", user, "--role", role, "--password-stdin",
                        env=running.env, stdin=PASSWORD + "\n")
            assert made.returncode == 0, made.stderr
        with running.api() as api:
            yield dict(base=running.base, data=running.data, api=api)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is needed (./run test installs it)"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield b
        b.close()


def _login(browser: Browser, demo: dict, user: str, mobile: bool = False) -> Page:
    context = browser.new_context(
        base_url=demo["base"], locale="vi-VN",
        viewport={"width": 390, "height": 844} if mobile else {"width": 1280, "height": 900})
    page = context.new_page()
    page.goto("/ui/")
    expect(page).to_have_url(re.compile(r"/ui/login"))
    page.get_by_label("Tên đăng nhập").fill(user)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page).to_have_url(re.compile(r"/ui/$"))
    return page


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_broadcaster_sends_approver_releases_three_villages_play(demo, browser):
    lan = _login(browser, demo, "lan", mobile=True)  # a broadcaster on a phone
    _shot(lan, "01-broadcaster-home")
    lan.get_by_role("link", name="Phát bản tin").click()
    lan.get_by_label("Tiêu đề bản tin").fill("Thông báo lịch tiêm chủng")
    lan.get_by_label("Tệp âm thanh").set_input_files(str(demo["data"] / "ban-tin-mau.wav"))
    for village in ("Thôn Đông", "Thôn Tây", "Bản Nà"):
        lan.get_by_label(village).check()
    _shot(lan, "02-broadcaster-send-form")
    lan.get_by_role("button", name="Gửi").click()
    expect(lan).to_have_url(re.compile(r"/ui/broadcasts/b-"))
    expect(lan.get_by_text("Đã gửi, đang chờ phê duyệt.")).to_be_visible()
    broadcast_url = lan.url
    _shot(lan, "03-broadcaster-waiting-for-approval")

    boss = _login(browser, demo, "chu-tich")
    boss.get_by_role("link", name="Phê duyệt").click()
    expect(boss.get_by_text("Thông báo lịch tiêm chủng")).to_be_visible()
    _shot(boss, "04-approver-queue")
    boss.get_by_role("button", name="Duyệt").click()
    expect(boss.get_by_text("Không có gì chờ duyệt.")).to_be_visible()

    # The broadcaster's page was not reloaded: the states arrive by themselves.
    rows = lan.locator("#progress tbody tr")
    expect(rows).to_have_count(3)
    for i in range(3):
        expect(rows.nth(i).locator("td.state")).to_have_attribute("data-state", "played",
                                                                  timeout=60_000)
        expect(rows.nth(i).locator("td.state")).to_have_text(re.compile("Đã phát"))
    assert lan.url == broadcast_url
    _shot(lan, "05-broadcaster-three-villages-played")
    lan.get_by_role("link", name="Lịch tuần").click()
    expect(lan.get_by_text("Thông báo lịch tiêm chủng")).to_be_visible()
    _shot(lan, "13-broadcaster-week")


def test_technician_sees_an_agent_go_offline(demo, browser):
    minh = _login(browser, demo, "minh")
    minh.get_by_role("link", name="Thiết bị").click()
    row = minh.locator('tr[data-device="loa-na-1"] td.status')
    expect(row).to_have_text(re.compile("Trực tuyến"))
    _shot(minh, "06-technician-fleet")
    subprocess.run(["pkill", "-TERM", "-f", "agents/loa-na-1.toml"], check=True)
    expect(row).to_have_text(re.compile("Mất kết nối"), timeout=30_000)
    _shot(minh, "07-technician-agent-offline")
    minh.get_by_role("link", name="Cụm loa trường bản Nà").click()
    expect(minh.get_by_role("heading", name=re.compile("Số liệu theo thời gian"))).to_be_visible()
    _shot(minh, "08-technician-device-page")


def test_bad_input_gets_a_vietnamese_message_and_stores_nothing(demo, browser, tmp_path):
    before = (len(demo["api"].get("/api/media").json()),
              len(demo["api"].get("/api/broadcasts").json()))
    lan = _login(browser, demo, "lan")
    send = "/ui/send"

    lan.goto(send)
    lan.get_by_role("button", name="Gửi").click()  # nothing filled in
    alert = lan.get_by_role("alert")
    expect(alert).to_contain_text("Hãy nhập tiêu đề bản tin.")
    expect(alert).to_contain_text("Hãy chọn ít nhất một thôn.")
    expect(alert).to_contain_text("Hãy chọn tệp âm thanh hoặc ghi âm.")
    _shot(lan, "09-bad-input-empty")

    def attempt(path: Path, at: str | None = None) -> None:
        lan.goto(send)
        lan.get_by_label("Tiêu đề bản tin").fill("Tin thử")
        lan.get_by_label("Tệp âm thanh").set_input_files(str(path))
        lan.get_by_label("Thôn Đông").check()
        if at:
            lan.get_by_label("Vào lúc").first.check()
            lan.locator("#at").fill(at)
        lan.get_by_role("button", name="Gửi").click()

    not_audio = tmp_path / "ghi-chu.mp3"
    not_audio.write_text("đây không phải là âm thanh")
    attempt(not_audio)
    expect(lan.get_by_role("alert")).to_contain_text("không phải")
    _shot(lan, "10-bad-input-not-audio")

    attempt(demo["data"] / "ban-tin-mau.wav", at="2020-01-01T08:00")
    expect(lan.get_by_role("alert")).to_contain_text("Thời điểm phát đã qua.")

    huge = tmp_path / "qua-lon.wav"
    huge.write_bytes(b"\0" * (MAX_UPLOAD + 200_000))
    attempt(huge)
    expect(lan.get_by_role("alert")).to_contain_text("quá lớn")
    _shot(lan, "11-bad-input-too-large")

    after = (len(demo["api"].get("/api/media").json()),
             len(demo["api"].get("/api/broadcasts").json()))
    assert after == before  # nothing stored by any of them


def test_language_switch_and_roles_in_the_menu(demo, browser):
    minh = _login(browser, demo, "minh")
    expect(minh.get_by_role("link", name="Phát bản tin")).to_have_count(0)  # not his job
    minh.goto("/ui/audit")
    expect(minh.get_by_role("alert")).to_contain_text("không có quyền")
    minh.goto("/ui/")
    minh.get_by_role("link", name="English").click()
    expect(minh.get_by_role("link", name="Devices")).to_be_visible()
    _shot(minh, "12-technician-english")


def test_admin_manages_accounts_and_a_technician_can_stop_everything(demo, browser):
    accounts = dict(line.split()[:2] for line in
                    (demo["data"] / "demo-accounts.txt").read_text().splitlines())
    context = browser.new_context(base_url=demo["base"], locale="vi-VN")
    admin = context.new_page()
    admin.goto("/ui/login")
    admin.get_by_label("Tên đăng nhập").fill("quan-tri")
    admin.get_by_label("Mật khẩu").fill(accounts["quan-tri"])
    admin.get_by_role("button", name="Đăng nhập").click()
    admin.get_by_role("link", name="Tài khoản").click()

    admin.get_by_label("Tên đăng nhập").fill("thu-ky")
    admin.get_by_label("Mật khẩu").fill("mat-khau-thu-ky-1")
    admin.get_by_role("button", name="Tạo tài khoản").click()  # no role chosen
    expect(admin.get_by_role("alert")).to_contain_text("Hãy chọn ít nhất một vai trò.")
    admin.get_by_label("Mật khẩu").fill("mat-khau-thu-ky-1")
    admin.get_by_label("Phát thanh viên").check()
    admin.get_by_role("button", name="Tạo tài khoản").click()
    row = admin.locator('tr[data-user="thu-ky"]')
    expect(row).to_contain_text("Phát thanh viên")
    admin.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Khoá").click()
    expect(admin.locator('tr[data-user="thu-ky"]')).to_contain_text("Đã khoá")
    _shot(admin, "14-admin-accounts")

    minh = _login(browser, demo, "minh")
    minh.get_by_role("link", name="Thiết bị").click()
    minh.once("dialog", lambda dialog: dialog.accept())
    with minh.expect_response(lambda r: r.url.endswith("/api/stop")) as stopped:
        minh.get_by_role("button", name="DỪNG PHÁT tất cả").click()
    assert stopped.value.status == 200
    log = demo["api"].get("/api/audit", params={"action": "broadcast.stop"}).json()
    assert log and log[0]["actor"] == "minh"
