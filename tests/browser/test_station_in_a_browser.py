"""The station in a real headless Chromium (Debian's, driven by Playwright; nothing is
downloaded): a broadcaster sends a bulletin to three villages, an approver releases it, the
three demo agents turn "played" live; a technician sees an agent go offline when its process
stops; bad input gets a clear Vietnamese message and sends nothing; on a phone, a missed village
is told live and resent, a typed time is honoured, an alarm is acknowledged, the history is
searched, passwords are changed, reset and unlocked. Screenshots are kept in
test-artifacts/screenshots/."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from controller.domain.text import fold
from tests.support.audio import make_speech, read_wav
from tests.support.demo import running_demo, stop_agent
from tests.support.stack import wait_for

pytestmark = pytest.mark.xdist_group("browser-demo")  # one demo, on one worker

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
PASSWORD = "mat-khau-thu-nghiem"
MAX_UPLOAD = 3 * 1024 * 1024


def _cli(*args: str, env: dict, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "loalang.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.fixture(scope="module")  # --dist loadgroup sends the group's tests as one unit: the
def demo(tmp_path_factory) -> Iterator[dict]:  # demo stops after them, not with the session
    tmp = tmp_path_factory.mktemp("browser")
    with running_demo(tmp, LOALANG_MAX_UPLOAD_BYTES=str(MAX_UPLOAD)) as running:
        for user, role in (
            ("lan", "broadcaster"),
            ("chu-tich", "approver"),
            ("minh", "technician"),
        ):
            made = _cli(
                "user",
                "add",
                user,
                "--role",
                role,
                "--password-stdin",
                env=running.env,
                stdin=PASSWORD + "\n",
            )
            assert made.returncode == 0, made.stderr
        with running.api() as api:
            yield dict(base=running.base, data=running.data, api=api, env=running.env)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is needed (./run test installs it)"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        # A fake microphone (a beeping tone) that needs no permission prompt, for recording.
        b = p.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
            ],
        )
        yield b
        b.close()


@pytest.fixture(autouse=True)
def _close_pages(browser: Browser) -> Iterator[None]:
    """Each test's pages close after it: left open, every one kept polling and redrawing its
    live parts for the rest of the module (two dozen by the end, most of Chromium's CPU)."""
    yield
    for context in browser.contexts:
        context.close()


def _login(
    browser: Browser, demo: dict, user: str, mobile: bool = False, password: str = PASSWORD
) -> Page:
    context = browser.new_context(
        base_url=demo["base"],
        locale="vi-VN",
        viewport={"width": 390, "height": 844} if mobile else {"width": 1280, "height": 900},
    )
    page = context.new_page()
    page.goto("/ui/")
    expect(page).to_have_url(re.compile(r"/ui/login"))
    page.get_by_label("Tên đăng nhập").fill(user)
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page).to_have_url(re.compile(r"/ui/$"))
    return page


def _open_menu(page: Page) -> None:
    """On a phone the pages, the account and the language are behind the menu's button."""
    toggle = page.locator("header .menu-toggle")
    if toggle.is_visible() and toggle.get_attribute("aria-expanded") != "true":
        toggle.click()


def _nav(page: Page, name: str) -> None:
    """Go to a page by the station's menu."""
    _open_menu(page)
    page.locator("header nav").get_by_role("link", name=name).click()


def wait_until(check, what: str, timeout: float = 60):  # type: ignore[no-untyped-def]
    return wait_for(check, timeout=timeout, what=what)


def _own(title: str) -> str:
    """A title no other test of the shared demo uses, so what a test finds and counts is its
    own whatever ran before it."""
    return f"{title} {uuid.uuid4().hex[:4]}"


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_broadcaster_sends_approver_releases_three_villages_play(demo, browser):
    title = _own("Thông báo lịch tiêm chủng")
    lan = _login(browser, demo, "lan", mobile=True)  # a broadcaster on a phone
    _shot(lan, "01-broadcaster-home")
    _nav(lan, "Phát bản tin")
    lan.get_by_label("Tiêu đề bản tin").fill(title)
    lan.get_by_label("Tệp âm thanh").set_input_files(str(demo["data"] / "ban-tin-mau.wav"))
    for village in ("Thôn Đông", "Thôn Tây", "Bản Nà"):
        lan.get_by_label(village).check()
    _shot(lan, "02-broadcaster-send-form")
    lan.get_by_role("button", name="Gửi").click()
    expect(lan).to_have_url(re.compile(r"/ui/broadcasts/b-"), timeout=60_000)  # via its job
    expect(lan.get_by_text("Đã gửi, đang chờ phê duyệt.")).to_be_visible()
    broadcast_url = lan.url
    _shot(lan, "03-broadcaster-waiting-for-approval")

    boss = _login(browser, demo, "chu-tich")
    _nav(boss, "Phê duyệt")
    card = boss.locator("section[data-broadcast]").filter(has_text=title)
    expect(card).to_be_visible()
    _shot(boss, "04-approver-queue")
    card.get_by_role("button", name="Duyệt").click()
    expect(card).to_have_count(0)  # gone from the queue (what other tests left stays)

    # The broadcaster's page was not reloaded: the states arrive by themselves.
    rows = lan.locator("#progress tbody tr")
    expect(rows).to_have_count(4)  # three clusters and the home receiver in Thôn Đông
    for i in range(4):
        expect(rows.nth(i).locator("td.state")).to_have_attribute(
            "data-state", "played", timeout=60_000
        )
        expect(rows.nth(i).locator("td.state")).to_have_text(re.compile("Đã phát"))
    assert lan.url == broadcast_url
    _shot(lan, "05-broadcaster-three-villages-played")
    _nav(lan, "Lịch tuần")
    expect(lan.get_by_text(title)).to_be_visible()
    _shot(lan, "13-broadcaster-week")


@pytest.fixture
def own_demo(tmp_path) -> Iterator[dict]:
    """A demo of its own, for a test that stops agents (the module's demo stays whole)."""
    with running_demo(tmp_path) as running:
        made = _cli(
            "user",
            "add",
            "minh",
            "--role",
            "technician",
            "--password-stdin",
            env=running.env,
            stdin=PASSWORD + "\n",
        )
        assert made.returncode == 0, made.stderr
        with running.api() as api:
            yield dict(base=running.base, data=running.data, api=api, running=running)


def test_technician_sees_an_agent_go_offline(own_demo, browser):
    demo = own_demo
    minh = _login(browser, demo, "minh")
    _nav(minh, "Thiết bị")
    row = minh.locator('tr[data-device="loa-na-1"] td.status')
    expect(row).to_have_text(re.compile("Trực tuyến"))
    _shot(minh, "06-technician-fleet")
    stop_agent(demo["running"], "loa-na-1")
    # a clean shutdown says so; a lost link or power (the broker's last will) is "Mất kết nối"
    expect(row).to_have_text(re.compile("Đã tắt"), timeout=30_000)
    stop_agent(demo["running"], "loa-tay-1", signal.SIGKILL)  # a power cut
    expect(minh.locator('tr[data-device="loa-tay-1"] td.status')).to_have_text(
        re.compile("Mất kết nối"), timeout=30_000
    )
    expect(minh.locator("svg.map circle.dot.offline")).to_have_count(1)  # the map is live too
    # the figures it sent before its link went are not what it is like now
    expect(minh.locator('tr[data-device="loa-tay-1"]')).to_contain_text("số liệu cũ")
    _shot(minh, "07-technician-agent-offline")
    # on the phone, the home page says first which loudspeakers cannot play, and since when
    phone = _login(browser, demo, "minh", mobile=True)
    gone = phone.locator("#unreachable")
    expect(gone).to_contain_text(re.compile(r"Cụm loa không phát được lúc này: \d+"))
    expect(gone.locator('li[data-device="loa-tay-1"]')).to_contain_text(
        re.compile(r"Mất kết nối từ \d\d:\d\d")
    )
    expect(gone.locator('li[data-device="loa-na-1"]')).to_contain_text("Đã tắt")
    villages = phone.locator("#villages").bounding_box()
    assert villages is not None
    box = gone.bounding_box()
    assert box is not None
    assert box["y"] < villages["y"] < 844  # both before the fold: no scrolling to find them
    _shot(phone, "07b-technician-home-offline-phone")
    gone.get_by_role("link", name="Cụm loa trường bản Nà").click()
    expect(phone.get_by_role("heading", name=re.compile("Số liệu theo thời gian"))).to_be_visible()
    phone.context.close()
    minh.get_by_role("link", name="Cụm loa trường bản Nà").click()
    expect(minh.get_by_role("heading", name=re.compile("Số liệu theo thời gian"))).to_be_visible()
    _shot(minh, "08-technician-device-page")


def test_bad_input_gets_a_vietnamese_message_and_stores_nothing(demo, browser, tmp_path):
    before = (
        len(demo["api"].get("/api/media").json()),
        len(demo["api"].get("/api/broadcasts").json()),
    )
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
    # the file is uploaded and checked first: seconds on a loaded machine
    expect(lan.get_by_role("alert")).to_contain_text("Thời điểm phát đã qua.", timeout=30_000)
    # the good file chosen is kept for the next try (a browser cannot fill the field again)
    expect(lan.locator("#kept-file")).to_contain_text("ban-tin-mau.wav")

    huge = tmp_path / "qua-lon.wav"
    huge.write_bytes(b"\0" * (MAX_UPLOAD + 200_000))
    attempt(huge)
    expect(lan.get_by_role("alert")).to_contain_text("quá lớn")
    _shot(lan, "11-bad-input-too-large")

    after = (
        len(demo["api"].get("/api/media").json()),
        len(demo["api"].get("/api/broadcasts").json()),
    )
    # no broadcast from any of them; of the files, only the good one kept for the next try
    assert after[1] == before[1]
    assert after[0] <= before[0] + 1


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
    accounts = dict(
        line.split()[:2] for line in (demo["data"] / "demo-accounts.txt").read_text().splitlines()
    )
    context = browser.new_context(base_url=demo["base"], locale="vi-VN")
    admin = context.new_page()
    admin.goto("/ui/login")
    admin.get_by_label("Tên đăng nhập").fill("quan-tri")
    admin.get_by_label("Mật khẩu").fill(accounts["quan-tri"])
    admin.get_by_role("button", name="Đăng nhập").click()
    _nav(admin, "Tài khoản")

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
    _nav(minh, "Thiết bị")
    minh.once("dialog", lambda dialog: dialog.accept())
    with minh.expect_response(lambda r: r.url.endswith("/api/stop")) as stopped:
        minh.get_by_role("button", name="DỪNG PHÁT tất cả").click()
    assert stopped.value.status == 200
    log = demo["api"].get("/api/audit", params={"action": "broadcast.stop"}).json()
    assert log
    assert log[0]["actor"] == "minh"


def test_broadcaster_records_a_bulletin_with_the_microphone(demo, browser):
    lan = _login(browser, demo, "lan")
    lan.goto("/ui/send")
    lan.get_by_label("Tiêu đề bản tin").fill("Ghi âm trực tiếp")
    lan.get_by_label("Thôn Đông").check()
    record = lan.get_by_role("button", name="Bắt đầu ghi")
    record.click()
    expect(lan.get_by_role("button", name="Dừng ghi")).to_be_visible()
    lan.wait_for_timeout(3000)  # three seconds of the fake microphone's tone
    lan.get_by_role("button", name="Dừng ghi").click()
    expect(lan.locator("#preview")).to_be_visible()
    assert lan.locator("#file").evaluate("el => el.files[0].name") == "ghi-am.webm"
    _shot(lan, "15-broadcaster-recorded")
    lan.get_by_role("button", name="Gửi").click()
    expect(lan).to_have_url(re.compile(r"/ui/broadcasts/b-"), timeout=60_000)  # via its job
    broadcast = demo["api"].get(f"/api/broadcasts/{lan.url.rsplit('/', 1)[1]}").json()
    media = demo["api"].get(f"/api/media/{broadcast['media_sha256']}").json()
    assert media["original_format"] == "webm"
    assert 2.0 <= media["duration_ms"] / 1000 <= 6.0  # what was recorded, decoded by ffmpeg
    assert media["loudness_in_lufs"] > -60  # a tone, not silence


def test_broadcaster_edits_the_routine_and_the_approver_applies_it(demo, browser):
    sample = demo["data"] / "ban-tin-mau.wav"  # at least one bulletin in the library
    assert demo["api"].post(
        "/api/media", files={"file": (sample.name, sample.read_bytes())}
    ).status_code in (200, 201)
    lan = _login(browser, demo, "lan")
    _nav(lan, "Lịch định kỳ")
    lan.get_by_role("link", name="Thêm lịch").click()
    lan.get_by_role("button", name="Lưu lịch").click()  # nothing filled in
    expect(lan.get_by_role("alert")).to_contain_text("Hãy nhập tiêu đề bản tin.")
    expect(lan.get_by_role("alert")).to_contain_text("Hãy chọn ít nhất một bản tin")
    lan.get_by_label("Tên lịch phát").fill("Bản tin nông nghiệp")  # its code is made from it
    lan.get_by_label("Thôn Tây").check()
    lan.get_by_label("Giờ bắt đầu").fill("16:45")
    expect(lan.get_by_label("Thứ Bảy")).to_be_hidden()  # only what "every day" needs
    lan.get_by_label("Các ngày trong tuần").check()
    lan.get_by_label("Thứ Bảy").check()
    expect(lan.get_by_label("Ngày phát")).to_be_hidden()
    lan.get_by_label("Mục 1", exact=True).select_option(index=1)
    _shot(lan, "16-broadcaster-routine-form")
    lan.get_by_role("button", name="Lưu lịch").click()
    expect(lan.get_by_role("status")).to_contain_text("đang chờ người duyệt")
    expect(lan.get_by_text("Thứ Bảy lúc 16:45")).to_be_visible()  # in the waiting list

    boss = _login(browser, demo, "chu-tich")
    _nav(boss, "Phê duyệt")
    change = boss.locator("section[data-change]").filter(has_text="Thứ Bảy lúc 16:45")
    expect(change).to_contain_text("Thôn Tây")
    _shot(boss, "17-approver-schedule-change")
    change.get_by_role("button", name="Duyệt").click()
    expect(boss.locator("section[data-change]")).to_have_count(0)
    _nav(boss, "Lịch định kỳ")
    expect(boss.locator('section[data-schedule="ban-tin-nong-nghiep"]')).to_contain_text(
        "Thứ Bảy lúc 16:45"
    )
    _shot(boss, "18-routine")
    assert demo["api"].get("/api/schedules/ban-tin-nong-nghiep").json()["targets"] == [
        "zone:thon-tay"
    ]


def test_admin_adds_a_village_and_registers_a_cluster(demo, browser):
    accounts = dict(
        line.split()[:2] for line in (demo["data"] / "demo-accounts.txt").read_text().splitlines()
    )
    admin = _login(browser, demo, "quan-tri", password=accounts["quan-tri"])
    _nav(admin, "Thôn & thiết bị")
    admin.get_by_label("Tên thôn").fill("Thôn Nam")  # its code is made from the name
    admin.get_by_role("button", name="Thêm thôn").click()
    expect(admin.locator('tr[data-zone="thon-nam"]')).to_contain_text("Thôn Nam")

    admin.get_by_role("button", name="Đăng ký cụm loa mới").click()  # nothing filled in
    expect(admin.get_by_role("alert")).to_contain_text("Hãy nhập tên cụm loa.")
    admin.get_by_label("Tên cụm loa").fill("Cụm loa nhà văn hoá thôn Nam")
    admin.get_by_label("Mã cụm loa").fill("loa-nam-1")
    admin.locator("#register ~ form").get_by_label("Thôn Nam").check()
    admin.get_by_label("Vĩ độ").fill("9.170")
    admin.get_by_label("Kinh độ").fill("105.160")
    _shot(admin, "19-admin-villages-and-clusters")
    admin.get_by_role("button", name="Đăng ký cụm loa mới").click()
    expect(admin.get_by_role("status")).to_contain_text("chỉ hiện MỘT LẦN")
    expect(admin.locator("#agent-config")).to_contain_text('device_id = "loa-nam-1"')
    _shot(admin, "20-admin-cluster-registered")
    device = demo["api"].get("/api/devices/loa-nam-1").json()
    assert device["zones"] == ["thon-nam"]
    assert device["latitude"] == 9.17


def test_broadcaster_types_a_text_listens_and_sends_it(demo, browser):
    """No file at all: a text, read in the Southern voice, previewed, sent, played."""
    lan = _login(browser, demo, "lan", mobile=True)
    lan.goto("/ui/send")
    lan.get_by_label("Tiêu đề bản tin").fill("Họp thôn bằng văn bản")
    lan.get_by_label("Văn bản (máy đọc)").check()
    expect(lan.locator("#file")).to_be_hidden()  # the audio fields step aside
    lan.get_by_label("Văn bản cần đọc").fill(
        "Thông báo: 8h30 sáng mai họp thôn tại nhà văn hoá, UBND xã mời bà con đến đúng giờ."
    )
    lan.get_by_label("Giọng đọc").select_option(label="Giọng máy miền Nam (ngoại tuyến)")
    lan.get_by_role("button", name="Nghe thử").click()
    expect(lan.locator("#say-audio")).to_be_visible(timeout=60_000)
    said = lan.locator("#said")
    expect(said).to_contain_text("tám giờ ba mươi")
    expect(said).to_contain_text("Ủy ban nhân dân")
    previewed = lan.locator("#media-sha").input_value()
    assert len(previewed) == 64
    lan.get_by_label("Thôn Tây").check()
    _shot(lan, "21-broadcaster-text-previewed")
    lan.get_by_role("button", name="Gửi").click()
    expect(lan).to_have_url(re.compile(r"/ui/broadcasts/b-"), timeout=60_000)
    expect(lan.locator("#spoken-text")).to_contain_text("8h30 sáng mai họp thôn")
    broadcast_id = lan.url.rsplit("/", 1)[1]
    broadcast = demo["api"].get(f"/api/broadcasts/{broadcast_id}").json()
    assert broadcast["media_sha256"] == previewed  # what was heard is what is sent
    media = demo["api"].get(f"/api/media/{previewed}").json()
    assert media["voice"] == "espeak:vi-vn-x-south"
    assert media["text"].startswith("Thông báo: 8h30")
    assert abs(media["loudness_out_lufs"] - -16) <= 1

    approved = demo["api"].post(f"/api/broadcasts/{broadcast_id}/approve")
    assert approved.status_code == 200, approved.text
    row = lan.locator("#progress tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td.state")).to_have_attribute("data-state", "played", timeout=60_000)
    _shot(lan, "22-broadcaster-text-played")
    lan.get_by_role("link", name="Sửa văn bản và đọc lại").click()
    expect(lan.get_by_label("Văn bản cần đọc")).to_have_value(re.compile("^Thông báo: 8h30"))
    expect(lan.get_by_label("Giọng đọc")).to_have_value("espeak:vi-vn-x-south")


def test_an_emergency_from_a_phone_reaches_the_approvers_open_page_live(demo, browser):
    """Issue 29: on the approver's phone the emergency comes first, with its text and
    villages, and is confirmed in two taps (the badge, then the button, with one question
    that names what sounds where) without scrolling past the bulletins waiting before it."""
    api = demo["api"]
    token = api.post("/api/users/lan/tokens", json={}).json()["token"]
    wav = make_speech(Path(demo["data"]) / "waiting.wav", "Tin chờ duyệt.")
    sha = api.post("/api/media", files={"file": ("waiting.wav", wav.read_bytes())}).json()["sha256"]
    for _ in range(4):  # normal bulletins waiting since before the emergency
        r = httpx.post(
            f"{demo['base']}/api/broadcasts",
            headers={"Authorization": f"Bearer {token}"},
            json={"media_sha256": sha, "targets": ["all"], "title": _own("Tin chờ duyệt")},
        )
        assert r.status_code == 201, r.text
        assert r.json()["state"] == "pending_approval"  # lan is a broadcaster
    boss = _login(browser, demo, "chu-tich", mobile=True)
    _nav(boss, "Phê duyệt")  # open before the emergency exists
    badge = boss.locator("#emergency-badge")
    expect(badge).to_be_hidden()
    lan = _login(browser, demo, "lan", mobile=True)
    _nav(lan, "Phát khẩn cấp")
    expect(lan.get_by_label("Tất cả các thôn")).to_be_checked()  # every village preselected
    lan.get_by_label("Tất cả các thôn").uncheck()  # (another test added a cluster with no agent)
    for village in ("Thôn Đông", "Thôn Tây", "Bản Nà"):
        lan.get_by_label(village).check()
    lan.get_by_label("Nội dung thông báo (máy đọc)").fill(
        "Nước sông đang lên nhanh. Bà con vùng trũng khẩn trương sơ tán lên nhà văn hoá xã."
    )
    _shot(lan, "23-broadcaster-emergency-form")
    lan.get_by_role("button", name="Phát khẩn cấp").last.click()
    expect(lan).to_have_url(re.compile(r"/ui/broadcasts/b-"), timeout=60_000)
    # the approver's page was not reloaded: the badge and the emergency arrive by themselves
    expect(badge).to_be_visible(timeout=15_000)
    expect(badge).to_have_text(re.compile(r"\d+ tin khẩn cấp chờ xác nhận"))
    emergency_id = lan.url.rsplit("/", 1)[1]
    expect(lan.locator("#spoken-text")).to_contain_text("Nước sông đang lên nhanh")
    badge.click()  # the first tap
    card = boss.locator("section.card").first  # before the four that waited longer
    expect(card).to_have_attribute("data-broadcast", emergency_id)
    expect(card).to_contain_text("Thông báo khẩn cấp")
    expect(card.locator("blockquote.spoken")).to_contain_text("Nước sông đang lên nhanh")
    expect(card).to_contain_text("Thôn Đông")
    confirm = card.get_by_role("button", name="Xác nhận (người thứ hai)")
    box = confirm.bounding_box()
    assert box is not None
    assert box["y"] >= 0, box  # on screen without scrolling
    assert box["y"] + box["height"] <= 844, box
    _shot(boss, "24-approver-emergency-waiting")
    asked: list[str] = []
    boss.once("dialog", lambda d: (asked.append(d.message), d.accept()))
    confirm.click()  # the second tap, and one question that names what sounds where
    expect(boss.locator(f'section[data-broadcast="{emergency_id}"]')).to_have_count(
        0, timeout=15_000
    )
    assert "KHẨN CẤP" in asked[0]
    assert "Thôn Đông" in asked[0]
    assert "Bản Nà" in asked[0]
    rows = lan.locator("#progress tbody tr")
    expect(rows).to_have_count(4)  # three clusters and the home receiver in Thôn Đông
    for i in range(4):
        expect(rows.nth(i).locator("td.state")).to_have_attribute(
            "data-state", "played", timeout=60_000
        )


def test_a_broadcaster_goes_live_from_a_phone_to_two_villages_and_ends_it(demo, browser):
    """Chromium's fake microphone (a beeping tone) → the page's WebSocket → the controller's
    encoder → Icecast → two villages' agents; the banner stays on every page while live."""
    lan = _login(browser, demo, "lan", mobile=True)
    _nav(lan, "Phát trực tiếp")
    form = lan.locator("#live-form")  # (the relay form below has villages too)
    form.get_by_label("Thôn Đông").check()
    form.get_by_label("Thôn Tây").check()
    expect(lan.locator("#mic-why")).to_be_hidden()  # 127.0.0.1 is a secure context
    lan.wait_for_function(
        "Number(document.getElementById('level').dataset.level || 0) > 0.01", timeout=15_000
    )  # the level meter moves with the microphone
    _shot(lan, "25-broadcaster-live-form")
    lan.get_by_role("button", name="Bắt đầu").click()
    expect(lan.locator("#live-status")).to_be_visible()
    api = demo["api"]
    live = wait_until(lambda: api.get("/api/live").json(), "the live broadcast")[0]
    assert live["stream"]["source"] == "browser"
    assert live["created_by"] == "lan"
    wait_until(
        lambda: all(
            d["state"] == "playing"
            for d in api.get(f"/api/broadcasts/{live['id']}").json()["deliveries"]
        ),
        "both villages playing the voice",
    )
    # another page keeps the banner, with the time on air and the way to end it
    other = lan.context.new_page()
    other.goto("/ui/")
    expect(other.locator(".live-banner").first).to_contain_text("ĐANG PHÁT TRỰC TIẾP")
    other.wait_for_timeout(3000)  # three seconds of voice
    _shot(other, "26-live-banner-on-every-page")
    other.close()
    lan.get_by_role("button", name="Kết thúc").first.click()
    done = wait_until(
        lambda: (lambda b: b if all(d["state"] == "played" for d in b["deliveries"]) else None)(
            api.get(f"/api/broadcasts/{live['id']}").json()
        ),
        "both villages logged the live as played",
    )
    for d in done["deliveries"]:
        assert d["started_at"]
        assert d["ended_at"]
        assert d["played_ms"] > 2000
        [wav] = sorted(
            (demo["data"] / "agents" / d["device_id"] / "output").glob(f"*{live['id']}*.wav")
        )
        pcm = read_wav(wav)
        assert np.sqrt(np.mean(pcm**2)) > 0.01  # the fake microphone's beeps came out
    expect(lan.locator("#live-banner")).to_be_hidden(timeout=15_000)


# --- "Did every village hear it?" on a phone (issue 15) -------------------------------------


def _fits(page: Page) -> bool:
    """Nothing wider than the screen."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_a_missed_village_is_told_live_with_its_reason_and_resent(demo, browser):
    api = demo["api"]
    api.post("/api/zones", json={"id": "xom-moi", "name": "Xóm Mới"})
    api.post(
        "/api/devices",
        json={"id": "loa-moi-1", "name": "Cụm loa xóm Mới", "zones": ["xom-moi"], "output": "file"},
    )  # never switched on
    lan = _login(browser, demo, "lan", mobile=True)
    lan.goto("/ui/send")
    expect(lan.locator('.offline-warning[data-zone="xom-moi"]')).to_contain_text(
        "Cụm loa xóm Mới"
    )  # told before sending, not after
    assert _fits(lan)
    sha = api.post(
        "/api/media", files={"file": ("tin.wav", (demo["data"] / "ban-tin-mau.wav").read_bytes())}
    ).json()["sha256"]
    b = api.post(
        "/api/broadcasts",
        json={
            "media_sha256": sha,
            "title": "Tin họp xóm",
            "targets": ["zone:xom-moi", "zone:thon-dong"],
            "max_late_s": 2,
        },
    ).json()
    lan.goto(f"/ui/broadcasts/{b['id']}")
    missed = lan.locator('tr[data-device="loa-moi-1"] td.state')
    played = lan.locator('tr[data-device="loa-dong-1"] td.state')
    # no reload: the states arrive by themselves, in words
    expect(played).to_have_attribute("data-outcome", "played", timeout=60_000)
    expect(missed).to_have_attribute("data-outcome", "missed", timeout=90_000)
    expect(missed).to_contain_text("Bị lỡ")
    # the controller never heard from it: it says so, not a list of guesses (issue 29)
    expect(missed).to_contain_text("cụm loa chưa từng kết nối")
    expect(lan.locator("#still-offline")).to_contain_text("Vẫn mất kết nối")
    expect(lan.locator("#outcomes")).to_contain_text("Bị lỡ (không phát): 1")
    assert _fits(lan)
    _shot(lan, "30-phone-missed-village")
    lan.goto("/ui/")
    expect(lan.locator('.village[data-zone="xom-moi"]')).to_have_attribute("data-worst", "missed")
    expect(lan.locator('.village[data-zone="thon-dong"]')).to_contain_text("Tin họp xóm")
    expect(lan.locator('.village[data-zone="thon-dong"] [data-outcome="played"]')).to_have_text(
        "Đã phát: 2"
    )  # its own cluster and home receiver, not the bulletin's three devices
    _shot(lan, "31-phone-villages")
    lan.goto(f"/ui/broadcasts/{b['id']}")
    lan.get_by_role("button", name=re.compile("Phát lại cho các thôn bị lỡ")).click()
    lan.wait_for_url(lambda url: "/ui/broadcasts/b-" in url and b["id"] not in url)
    again = lan.url.rsplit("/", 1)[1]
    assert api.get(f"/api/broadcasts/{again}").json()["targets"] == ["device:loa-moi-1"]
    expect(lan.get_by_text("Đã gửi, đang chờ phê duyệt.")).to_be_visible()  # held as any
    api.post(f"/api/broadcasts/{again}/cancel")
    api.post("/api/devices/loa-moi-1/retire")


def test_a_typed_time_is_honoured_without_ticking_at(demo, browser):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    at = (datetime.now(tz) + timedelta(hours=3)).replace(second=0, microsecond=0)
    lan = _login(browser, demo, "lan", mobile=True)
    lan.goto("/ui/send")
    lan.get_by_label("Tiêu đề bản tin").fill("Tin buổi chiều")
    lan.get_by_label("Tệp âm thanh").set_input_files(str(demo["data"] / "ban-tin-mau.wav"))
    lan.get_by_label("Thôn Tây").check()
    lan.locator("#at").fill(at.strftime("%Y-%m-%dT%H:%M"))  # "Vào lúc" left as "Ngay"
    lan.get_by_role("button", name="Gửi").click()
    expect(lan).to_have_url(re.compile(r"/ui/broadcasts/b-"), timeout=60_000)
    made = demo["api"].get(f"/api/broadcasts/{lan.url.rsplit('/', 1)[1]}").json()
    assert datetime.fromisoformat(made["start_at"]) == at
    demo["api"].post(f"/api/broadcasts/{made['id']}/cancel")


def test_a_technician_acknowledges_an_alarm_on_a_phone(demo, browser):
    import tomllib
    import uuid

    import paho.mqtt.client as mqtt

    from protocol import topics
    from protocol.messages import AlarmCode, AlarmEvent, encode, utcnow

    config = tomllib.loads((demo["data"] / "agents" / "loa-tay-1.toml").read_text())
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="loa-tay-1-probe")
    if config["mqtt"].get("username"):
        client.username_pw_set(config["mqtt"]["username"], config["mqtt"]["password"])
    event = AlarmEvent(
        event_id=uuid.uuid4().hex,
        device_id="loa-tay-1",
        ts=utcnow(),
        code=AlarmCode.door_open,
        active=True,
        detail="cửa tủ mở",
    )
    client.connect(config["mqtt"]["host"], config["mqtt"]["port"])
    client.loop_start()
    client.publish(
        topics.device_topic("loa-tay-1", "event"), encode(event), qos=1
    ).wait_for_publish(10)
    client.loop_stop()
    client.disconnect()
    minh = _login(browser, demo, "minh", mobile=True)
    minh.goto("/ui/alarms")
    row = minh.locator("tr[data-alarm]").filter(has_text="cửa tủ mở")
    button = row.get_by_role("button", name="Đã biết")
    expect(button).to_be_visible(timeout=30_000)  # on a phone too: no hidden column
    box = button.bounding_box()
    assert box is not None
    assert box["height"] >= 44
    assert _fits(minh)
    _shot(minh, "32-phone-alarm")
    button.click()
    expect(minh.locator("tr[data-alarm]").filter(has_text="cửa tủ mở")).to_contain_text(
        "minh", timeout=30_000
    )

    def charted() -> bool:  # two health reports make a line
        minh.goto("/ui/devices/loa-tay-1")
        return minh.locator("figure.plot svg").count() > 0

    wait_until(charted, "the device's charts", timeout=150)
    expect(minh.locator("#current-volume")).to_contain_text("%")
    chart = minh.locator("figure.plot svg").first
    box = chart.bounding_box()
    assert box is not None
    assert box["height"] >= 80
    assert box["width"] <= 390
    assert _fits(minh)
    _shot(minh, "35-phone-device")
    minh.get_by_label("Âm lượng (0–100)").fill("80")
    minh.locator("#volume-form").get_by_role("button", name="Lưu").click()
    expect(minh.get_by_role("status")).to_contain_text("Đã lưu.")  # saving says so


def test_the_history_of_bulletins_is_searched_on_a_phone(demo, browser):
    api = demo["api"]
    sha = api.post(
        "/api/media", files={"file": ("tin.wav", (demo["data"] / "ban-tin-mau.wav").read_bytes())}
    ).json()["sha256"]
    tax = _own("Lịch thu thuế")  # what this test searches for is its own
    for i in range(3):
        api.post(
            "/api/broadcasts",
            json={"media_sha256": sha, "title": f"{tax} {i}", "targets": ["zone:ban-na"]},
        )
    lan = _login(browser, demo, "lan", mobile=True)
    # the phone's header is one line: the pages are behind one button, and only those her
    # role can act on (approving is not hers: a second person's emergency has its own badge)
    header = lan.locator("header").bounding_box()
    assert header is not None
    assert header["height"] <= 100, header  # (was 290–410 px: 13–19 links)
    expect(lan.locator("header nav")).to_be_hidden()
    lan.locator("header .menu-toggle").click()
    menu = lan.locator("header nav")
    expect(menu.get_by_role("link", name="Phát bản tin")).to_be_visible()
    expect(menu.get_by_role("link", name="Phê duyệt")).to_have_count(0)
    _shot(lan, "33a-phone-menu")
    menu.get_by_role("link", name="Lịch sử").click()
    expect(lan.locator('header nav a[aria-current="page"]')).to_have_text("Lịch sử")
    lan.get_by_label("Tìm theo tiêu đề").fill(tax.lower())
    lan.get_by_role("button", name="Tìm").click()
    expect(lan.locator("#history-count")).to_have_text("3 bản tin")
    expect(lan.locator("#history tbody tr")).to_have_count(3)
    expect(lan.locator("#history tbody tr").first).to_contain_text("Bản Nà")
    assert _fits(lan)
    _shot(lan, "33-phone-history")
    # as people type on a phone: without accents (and the page says what it lists: all of them)
    expect(lan.get_by_role("heading", level=1)).to_have_text("Tất cả bản tin")
    lan.get_by_label("Tìm theo tiêu đề").fill(fold(tax))
    lan.get_by_role("button", name="Tìm").click()
    expect(lan.locator("#history-count")).to_have_text("3 bản tin")
    lan.get_by_label("Tìm theo tiêu đề").fill("không có tin này")
    lan.get_by_role("button", name="Tìm").click()
    expect(lan.locator("#history-count")).to_have_text("0 bản tin")


def test_own_password_change_and_an_admin_resets_and_unlocks(demo, browser):
    made = _cli(
        "user",
        "add",
        "hong",
        "--role",
        "broadcaster",
        "--display-name",
        "Trần Thị Hồng",
        "--password-stdin",
        env=demo["env"],
        stdin=PASSWORD + "\n",
    )
    assert made.returncode == 0, made.stderr
    hong = _login(browser, demo, "hong", mobile=True)
    expect(hong.locator("header .me")).to_have_text("Trần Thị Hồng")  # her name, not "hong"
    _open_menu(hong)
    hong.locator("header .me").click()
    hong.get_by_label("Mật khẩu hiện tại").fill("sai-mat-khau-roi")
    hong.get_by_label("Mật khẩu mới").fill("mat-khau-moi-cua-hong")
    hong.get_by_role("button", name="Lưu mật khẩu mới").click()
    expect(hong.get_by_role("alert")).to_contain_text("Mật khẩu hiện tại không đúng.")
    hong.get_by_label("Mật khẩu hiện tại").fill(PASSWORD)
    hong.get_by_role("button", name="Lưu mật khẩu mới").click()
    expect(hong.get_by_role("status")).to_contain_text("Đã đổi mật khẩu.")
    _shot(hong, "34-phone-own-password")

    stranger = browser.new_context(base_url=demo["base"]).new_page()
    for _ in range(5):  # a stranger's wrong tries hold her name back (from that address)
        stranger.request.post("/auth/login", data={"username": "hong", "password": "doan-bua"})
    accounts = dict(
        line.split()[:2] for line in (demo["data"] / "demo-accounts.txt").read_text().splitlines()
    )
    admin = _login(browser, demo, "quan-tri", password=accounts["quan-tri"])
    admin.goto("/ui/users")
    row = admin.locator('tr[data-user="hong"]')
    expect(row).to_contain_text("Đang bị khoá")
    row.get_by_role("button", name="Mở khoá").click()
    expect(admin.get_by_role("status")).to_contain_text("Đã mở khoá tài khoản.")
    expect(admin.locator('tr[data-user="hong"]')).not_to_contain_text("Đang bị khoá")
    admin.once("dialog", lambda dialog: dialog.accept("mat-khau-dat-lai-1"))
    admin.locator('tr[data-user="hong"]').get_by_role("button", name="Đặt lại mật khẩu").click()
    expect(admin.get_by_role("status")).to_contain_text("Đã đặt lại mật khẩu")
    again = _login(browser, demo, "hong", password="mat-khau-dat-lai-1")
    expect(again.locator("header .me")).to_have_text("Trần Thị Hồng")


def test_an_address_that_is_no_page_gets_a_page_that_leads_home(demo, browser):
    lan = _login(browser, demo, "lan", mobile=True)
    answer = lan.goto("/ui/ban-tin-cu-da-xoa")
    assert answer is not None
    assert answer.status == 404
    expect(lan.get_by_role("alert")).to_have_text(re.compile("^Không có trang này."))
    assert "detail" not in lan.content()  # not the framework's JSON
    _shot(lan, "35-phone-no-such-page")
    lan.get_by_role("link", name="Về trang chính").click()
    expect(lan).to_have_url(re.compile(r"/ui/$"))
    api = demo["api"].get("/api/khong-co")  # the API keeps its JSON, in its own shape
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "http.not_found"


def test_a_bulletin_approved_too_late_says_so_and_is_given_a_new_time_on_a_phone(demo, browser):
    """Issue 29: a bulletin nobody approved before its start is not left "Chờ phê duyệt" for
    good: its page says it expired and why, shows the time it had as not played, and "Hẹn
    lại" from the phone holds it again for approval at the new time."""
    api = demo["api"]
    token = api.post("/api/users/lan/tokens", json={}).json()["token"]
    wav = make_speech(Path(demo["data"]) / "late.wav", "Tin duyệt muộn.")
    sha = api.post("/api/media", files={"file": ("late.wav", wav.read_bytes())}).json()["sha256"]
    title = _own("Lịch họp tổ dân phố")
    start = datetime.now(UTC) + timedelta(seconds=4)
    r = httpx.post(
        f"{demo['base']}/api/broadcasts",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "media_sha256": sha,
            "targets": ["all"],
            "title": title,
            "start_at": start.isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    broadcast_id = r.json()["id"]
    starts = datetime.fromisoformat(r.json()["start_at"])  # (no sooner than the sync lead)
    wait_until(lambda: datetime.now(UTC) > starts, "its start time passed")
    late = api.post(f"/api/broadcasts/{broadcast_id}/approve")  # too late: it expires now
    assert late.status_code == 409, late.text

    lan = _login(browser, demo, "lan", mobile=True)
    item = lan.locator("ul.list li", has_text=title)
    expect(item.locator(".state")).to_have_text("Quá giờ, chưa duyệt")  # the home page
    item.get_by_role("link").click()
    expect(lan.locator("#broadcast-state")).to_have_text("Quá giờ, chưa duyệt")
    expect(lan.locator("#expired-reason")).to_contain_text("chưa được duyệt trước giờ phát")
    expect(lan.locator("#planned-start")).to_contain_text("không phát")
    facts = lan.locator("dl.facts dt")
    expect(facts.filter(has_text=re.compile(r"^Giờ phát$"))).to_have_count(0)  # none to come
    _shot(lan, "30-broadcaster-phone-expired")
    new_time = lan.get_by_label("Giờ phát mới")
    expect(new_time).to_be_in_viewport()
    tomorrow = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) + timedelta(days=1)
    new_time.fill(f"{tomorrow:%Y-%m-%d}T09:00")
    lan.get_by_role("button", name="Hẹn lại").click()
    expect(lan.locator("#broadcast-state")).to_have_text("Chờ phê duyệt")
    expect(lan.get_by_role("status").filter(has_text="Đã hẹn lại")).to_be_visible()
    b = api.get(f"/api/broadcasts/{broadcast_id}").json()
    assert b["state"] == "pending_approval"
    local = datetime.fromisoformat(b["start_at"]).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    assert (local.date(), local.hour, local.minute) == (tomorrow.date(), 9, 0)
    cancelled = api.post(f"/api/broadcasts/{broadcast_id}/cancel")  # (leave the demo quiet)
    assert cancelled.status_code == 200, cancelled.text


def test_a_villager_checks_a_bulletin_on_the_public_page_from_a_phone(demo, browser):
    """No log-in: the station's public page on a phone lists what aired, with its text and
    its audio, fits the screen, and leads to the feed and the QR code."""
    api = demo["api"]
    title = _own("Lịch tiêm phòng dại")
    spoken = api.post(
        "/api/speech",
        params={"wait": "true"},
        json={
            "title": title,
            "parts": [{"language": "vi", "text": "Sáng thứ bảy tiêm phòng dại tại nhà văn hoá."}],
        },
    )
    assert spoken.status_code == 200, spoken.text
    sent = api.post(
        "/api/broadcasts",
        json={"media_sha256": spoken.json()["media"]["sha256"], "targets": ["all"], "title": title},
    )
    assert sent.status_code == 201, sent.text

    def aired() -> bool:
        state = api.get(f"/api/broadcasts/{sent.json()['id']}").json()["state"]
        return state in ("sent", "done")

    wait_until(aired, "the bulletin aired")
    context = browser.new_context(
        base_url=demo["base"], locale="vi-VN", viewport={"width": 390, "height": 844}
    )
    phone = context.new_page()

    def listed() -> bool:  # the page is cached a few seconds
        phone.goto("/nghe")
        return phone.get_by_role("heading", name=title).count() == 1

    wait_until(listed, "the bulletin on the public page", timeout=90)
    item = phone.locator("li.bulletin").filter(has_text=title)
    expect(item.locator(".official")).to_contain_text("Chính thức")
    expect(item.locator("audio")).to_have_count(1)
    item.get_by_text("Đọc nội dung").click()
    expect(item.locator(".text")).to_contain_text("tiêm phòng dại")
    assert _fits(phone)
    box = item.bounding_box()
    assert box is not None
    assert box["width"] <= 390
    _shot(phone, "36-phone-public-page")
    item.get_by_role("link", name="Liên kết bản tin này").click()
    expect(phone.get_by_role("heading", name=title)).to_be_visible()
    expect(phone.locator(".text")).to_be_visible()  # the one bulletin: its text shown at once
    assert "/ui/login" not in phone.url
    context.close()
