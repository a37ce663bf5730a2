"""The station's public page, feed and QR code, as an anonymous visitor sees them: aired
public bulletins with their text and audio (every emergency, whatever it was marked), never
an internal one, never an internal id, device, person or token; cached and rate-limited."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import httpx

from controller.db.models import Broadcast
from tests.support.stack import Stack

TEXT = "Chiều nay xã tổ chức tiêm phòng dại cho chó mèo tại nhà văn hoá thôn Đông."


def _anonymous(stack: Stack) -> httpx.Client:
    return httpx.Client(base_url=stack.base_url, timeout=20)


def test_an_anonymous_visitor_sees_only_public_bulletins_and_nothing_internal(
    stack: Stack, speech_wav
):
    stack.add_zone("thon-dong", "Thôn Đông")
    stack.register("loa-1", ["thon-dong"])
    stack.start_agent("loa-1")
    spoken = stack.api.post(
        "/api/speech",
        params={"wait": "true"},
        json={"title": "Tiêm phòng dại", "parts": [{"language": "vi", "text": TEXT}]},
    )
    assert spoken.status_code == 200, spoken.text
    text_media = spoken.json()["media"]
    recorded = stack.upload(speech_wav, title="Họp chi bộ")
    public = stack.broadcast(text_media["sha256"], ["zone:thon-dong"], title="Tiêm phòng dại")
    internal = stack.broadcast(
        recorded["sha256"], ["zone:thon-dong"], title="Họp chi bộ nội bộ", public=False
    )
    stack.wait_states(public["id"], {"played"}, timeout=60)
    stack.wait_states(internal["id"], {"played"}, timeout=60)
    lan = stack.person("bien-tap-lan", "broadcaster")
    alert = lan.post(
        "/api/broadcasts",
        json={
            "media_sha256": recorded["sha256"],
            "targets": ["all"],
            "priority": "emergency",
            "title": "Bão số 9 đổ bộ",
            "public": False,  # an emergency is public all the same
        },
    ).json()
    stack.person("chu-tich", "approver").post(f"/api/broadcasts/{alert['id']}/confirm")
    stack.wait_states(alert["id"], {"played"}, timeout=60)

    with stack.services.sessions() as session:
        slugs = {b.id: b.public_slug for b in session.query(Broadcast)}
    internal_ids = {public["id"], internal["id"], alert["id"], "loa-1", "thon-dong", "bien-tap-lan"}
    internal_ids |= {"chu-tich", text_media["sha256"], recorded["sha256"]}

    web = _anonymous(stack)
    page = web.get("/nghe")
    assert page.status_code == 200
    assert "Tiêm phòng dại" in page.text
    assert TEXT in page.text  # a text bulletin is read as well as heard
    assert "Bão số 9 đổ bộ" in page.text
    assert "KHẨN CẤP" in page.text
    assert "Họp chi bộ nội bộ" not in page.text
    assert "Chính thức" in page.text
    feed = web.get("/nghe/rss.xml")
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("application/rss+xml")
    channel = ET.fromstring(feed.content).find("channel")
    assert channel is not None
    items = channel.findall("item")
    assert [i.findtext("title") for i in items] == ["Bão số 9 đổ bộ", "Tiêm phòng dại"]
    itunes = "{http://www.itunes.com/dtds/podcast-1.0.dtd}"
    assert all(i.find(f"{itunes}duration") is not None for i in items)
    enclosures = [i.find("enclosure") for i in items]
    assert all(e is not None and e.get("type") == "audio/ogg" for e in enclosures)
    qr = web.get("/nghe/qr.svg")
    assert qr.status_code == 200
    assert qr.text.lstrip().startswith("<svg")

    # every address the page and the feed lead to answers, and none names anything internal
    addresses = set(re.findall(r'(?:href|src)="(/[^"]+)"', page.text))
    addresses |= {e.get("url", "").split("://", 1)[1].partition("/")[2] for e in enclosures}
    addresses = {a if a.startswith("/") else "/" + a for a in addresses}
    for address in sorted(addresses):
        r = web.get(address)
        assert r.status_code == 200, address
        assert not any(i in address for i in internal_ids), address
    for body in (page.text, feed.text):
        for secret in internal_ids:
            assert secret not in body, secret
        assert "token" not in body.lower()
    audio = web.get(f"/nghe/audio/{slugs[public['id']]}.ogg")
    assert audio.content[:4] == b"OggS"
    assert len(audio.content) == text_media["size"]
    # an internal bulletin: not there, whatever address is tried
    assert web.get(f"/nghe/audio/{slugs[internal['id']]}.ogg").status_code == 404
    hidden = web.get(f"/nghe/b/{slugs[internal['id']]}")
    assert hidden.status_code == 404
    assert "Không có bản tin này" in hidden.text
    assert web.get(f"/nghe/audio/{internal['id']}.ogg").status_code == 404
    assert web.get("/nghe?trang=abc").status_code == 422
    # the log-in pages stay shut to the same visitor
    assert web.get("/api/broadcasts").status_code == 401


def test_one_address_asking_too_often_is_told_to_wait_in_words(stack: Stack):
    web = _anonymous(stack)
    answers = [web.get("/nghe") for _ in range(60)]
    refused = [r for r in answers if r.status_code == 429]
    assert refused, "never limited"
    assert int(refused[0].headers["Retry-After"]) >= 1
    assert "chờ" in refused[0].text
    assert all(r.status_code in (200, 429) for r in answers)
