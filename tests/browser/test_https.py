"""The web UI over HTTPS on the station's LAN: the station's own CA signs a certificate for
the machine's names and addresses, a client that trusts the CA accepts it, and in Chromium
opened by a LAN name the recording and live buttons work; over plain HTTP by that name the
page says why the microphone cannot be used instead of hiding the button."""

from __future__ import annotations

import re
import shutil
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from controller.server import https_server
from controller.tls import spki_sha256
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.stack import Stack

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
NAME = "loa-lang.xa-mau.vn"  # the station's LAN name (resolved to this machine in Chromium)


@pytest.fixture
def station(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[tuple[Stack, int]]:
    port = free_port()
    s = Stack(
        tmp_path,
        mosquitto.port,
        https_port=port,
        https_host="127.0.0.1",
        tls_names=[NAME],
        station_name="Đài xã Mẫu",
        icecast="external",
    ).start()
    server, tls = https_server(s.server.app, s.settings)  # type: ignore[misc, union-attr]
    server.start()
    s.person("lan", "broadcaster")
    yield s, port
    server.stop()
    s.stop()


def test_the_station_ca_signs_a_certificate_for_the_machines_names(station):
    s, port = station
    ca = s.settings.data_dir / "tls" / "ca.crt"
    # the CA can be downloaded before logging in, to be trusted on a phone
    got = httpx.get(f"{s.base_url}/tls/ca.crt")
    assert got.status_code == 200
    assert got.content == ca.read_bytes()
    trusting = ssl.create_default_context(cafile=str(ca))
    r = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=trusting)
    assert r.status_code == 200
    with pytest.raises(httpx.ConnectError):  # not trusted without the CA
        httpx.get(f"https://127.0.0.1:{port}/healthz", verify=True)
    key = (s.settings.data_dir / "tls" / "server.key").stat().st_mode & 0o777
    assert key == 0o600


def test_over_https_by_a_lan_name_the_microphone_works_and_over_http_the_page_says_why(station):
    s, port = station
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is needed (./run test installs it)"
    pin = spki_sha256(s.settings.data_dir / "tls" / "server.crt")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                f"--host-resolver-rules=MAP {NAME} 127.0.0.1",
                f"--ignore-certificate-errors-spki-list={pin}",
            ],
        )  # as if the CA were installed
        try:
            for base, secure in (
                (f"https://{NAME}:{port}", True),
                (f"http://{NAME}:{s.http_port}", False),
            ):
                page = browser.new_context(base_url=base, locale="vi-VN").new_page()
                page.goto("/ui/login")
                page.get_by_label("Tên đăng nhập").fill("lan")
                page.get_by_label("Mật khẩu").fill("lan-secret-pw")
                page.get_by_role("button", name="Đăng nhập").click()
                expect(page).to_have_url(re.compile(r"/ui/$"))
                assert page.evaluate("window.isSecureContext") is secure
                page.goto("/ui/send")
                record = page.get_by_role("button", name="Bắt đầu ghi")
                page.goto("/ui/live")
                why = page.locator("#mic-why")
                if secure:
                    expect(why).to_be_hidden()
                    page.wait_for_function(
                        "Number(document.getElementById('level').dataset.level || 0) > 0.01",
                        timeout=15_000,
                    )
                else:
                    expect(why).to_be_visible()
                    expect(why).to_contain_text("https://")
                    page.goto("/ui/send")
                    expect(record).to_be_hidden()  # not a greyed button beside the text
                    said = page.locator(".mic-why").first
                    expect(said).to_contain_text("chỉ cho ghi âm trên trang an toàn của đài")
                    way = said.get_by_role("link", name="Mở trang an toàn để ghi âm")
                    expect(way).to_have_attribute("href", f"https://{NAME}:{port}/ui/send")
                    page.set_viewport_size({"width": 390, "height": 844})
                    SHOTS.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(SHOTS / "31-phone-plain-http.png"), full_page=True)
                    way.click()  # the same page, where the microphone records
                    expect(page).to_have_url(re.compile(rf"^https://{NAME}:{port}/ui/"))
                    if "/ui/login" in page.url:  # (a session cookie made over http)
                        page.get_by_label("Tên đăng nhập").fill("lan")
                        page.get_by_label("Mật khẩu").fill("lan-secret-pw")
                        page.get_by_role("button", name="Đăng nhập").click()
                        page.goto("/ui/send")
                    assert page.evaluate("window.isSecureContext") is True
                    expect(record).to_be_enabled()
                page.context.close()
        finally:
            browser.close()


def test_the_admin_page_gives_a_phone_the_certificate_and_the_secure_page_as_qr_codes(
    station,
):
    """Issue 29: recording on a phone made a one-step thing for the station: two QR codes on
    the admin page; what code 2 opens is signed by what code 1 downloads."""
    s, port = station
    html = s.api.get("/ui/setup").text
    ca_url = re.search(r'id="qr-ca"><svg.*?<a href="([^"]+)"', html, re.S)
    send_url = re.search(r'id="qr-send"><svg.*?<a href="([^"]+)"', html, re.S)
    assert ca_url, html[-2000:]
    assert send_url
    assert ca_url[1].endswith(f":{port}/tls/ca.crt")
    assert send_url[1].endswith(f":{port}/ui/send")
    ca = httpx.get(ca_url[1], verify=False).text  # what code 1 downloads...
    assert ca.startswith("-----BEGIN CERTIFICATE-----")
    page = httpx.get(send_url[1], verify=ssl.create_default_context(cadata=ca))
    assert page.status_code in (200, 303), page.status_code  # ...signs what code 2 opens
