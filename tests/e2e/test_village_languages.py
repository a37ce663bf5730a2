"""Each village in its own language: a bulletin of a Vietnamese and a Hmong version, sent to
a Kinh village, a Hmong village and a mixed one; each loudspeaker plays the versions its
village hears, in the order the station set, checked in the audio each agent played."""

from __future__ import annotations

import numpy as np

from tests.support.audio import as_played, correlation, decode, make_speech, read_wav
from tests.support.stack import Stack

VIETNAMESE = "Thông báo: sáng mai, ngày 12/3, họp thôn lúc 8h tại nhà văn hoá."


def test_a_two_language_bulletin_plays_the_right_versions_in_each_village(stack: Stack, speech_dir):
    for zone, languages in (
        ("thon-kinh", ["vi"]),
        ("ban-hmong", ["hmn"]),
        ("ban-tron", ["hmn", "vi"]),
    ):
        stack.add_zone(zone)
        r = stack.api.patch(f"/api/zones/{zone}", json={"languages": languages})
        assert r.status_code == 200, r.text
        stack.register(f"loa-{zone}", [zone])
        stack.start_agent(f"loa-{zone}")
    recording = stack.upload(
        make_speech(
            speech_dir / "hmong-bulletin.wav", "Nyob zoo cov kwv tij, tag kis peb sib tham"
        ),
        title="Bản H'Mông",
    )
    r = stack.api.post(
        "/api/speech",
        params={"wait": "true"},
        json={
            "title": "Họp thôn",
            "parts": [
                {"language": "vi", "text": VIETNAMESE},
                {"language": "hmn", "media_sha256": recording["sha256"]},
            ],
        },
    )
    assert r.status_code == 200, r.text
    whole = r.json()["media"]
    vi_audio = whole["parts"][0]["audio_sha256"]
    assert whole["parts"][1]["audio_sha256"] == recording["sha256"]

    # the send form says who will hear what before it is sent
    heard = {
        v["zone"]: v["hears"]
        for v in stack.api.get(f"/api/media/{whole['sha256']}/villages").json()
    }
    assert heard == {"thon-kinh": ["vi"], "ban-hmong": ["hmn"], "ban-tron": ["hmn", "vi"]}

    b = stack.broadcast(whole["sha256"], ["zone:thon-kinh", "zone:ban-hmong", "zone:ban-tron"])
    done = stack.wait_states(b["id"], {"played"}, timeout=120)
    by_device = {d["device_id"]: d for d in done["deliveries"]}
    assert by_device["loa-thon-kinh"]["media_sha256"] == vi_audio
    assert by_device["loa-ban-hmong"]["media_sha256"] == recording["sha256"]
    mixed = by_device["loa-ban-tron"]["media_sha256"]
    assert mixed not in (None, whole["sha256"], vi_audio, recording["sha256"])

    store = stack.services.media.store
    vi, hmn = decode(store.path_for(vi_audio)), decode(store.path_for(recording["sha256"]))
    for device, expected in (
        ("loa-thon-kinh", vi),
        ("loa-ban-hmong", hmn),
        ("loa-ban-tron", decode(store.path_for(mixed))),
    ):
        played = read_wav(stack.output_files(device)[0])
        score, _ = correlation(played, as_played(expected, by_device[device]))
        assert score > 0.99, (device, score)
    # the mixed village: the Hmong version first, then the Vietnamese one
    both = read_wav(stack.output_files("loa-ban-tron")[0])
    first, _ = correlation(both[: len(hmn)], hmn)
    assert first > 0.95, first
    tail = both[len(hmn) + int(1.2 * 48000) :]
    later, _ = correlation(tail[: len(vi)], vi, max_lag=9600)
    assert later > 0.9, later
    assert np.abs(read_wav(stack.output_files("loa-thon-kinh")[0])).max() > 0


def test_the_setup_page_sets_a_villages_languages_and_the_send_form_says_who_hears_what(
    stack: Stack,
):
    stack.add_zone("ban-tron", "Bản Tròn")
    admin = stack.person("quan-tri", "admin")
    r = admin.post("/ui/zones/ban-tron/languages", data={"languages": "hmn, vi"})
    assert r.status_code == 303, r.text
    assert stack.api.get("/api/zones").json()[0]["languages"] == ["hmn", "vi"]
    bad = admin.post("/ui/zones/ban-tron/languages", data={"languages": "hmn, xx"})
    assert bad.status_code == 422
    assert "xx" in bad.text
    assert stack.api.get("/api/zones").json()[0]["languages"] == ["hmn", "vi"]  # unchanged
    setup = admin.get("/ui/setup").text
    assert 'value="hmn, vi"' in setup
    send = admin.get("/ui/send").text
    assert "sẽ nghe: <span>Tiếng H&#39;Mông → Tiếng Việt</span>" in send or (
        "sẽ nghe: <span>Tiếng H'Mông → Tiếng Việt</span>" in send
    )
    assert 'data-hears="hmn,vi"' in send


def test_a_repeated_bulletins_issue_time_is_said_only_to_villages_whose_language_has_it(
    stack: Stack, speech_dir
):
    from controller.auth import SYSTEM, SYSTEM_ROLES, Principal

    for zone, languages in (("thon-kinh", ["vi"]), ("ban-hmong", ["hmn"])):
        stack.add_zone(zone)
        stack.api.patch(f"/api/zones/{zone}", json={"languages": languages})
    recording = stack.upload(make_speech(speech_dir / "hmong-2.wav", "Nyob zoo"), title="H")
    whole = stack.api.post(
        "/api/speech",
        params={"wait": "true"},
        json={
            "parts": [
                {"language": "vi", "text": "Bão số 3 đang vào bờ."},
                {"language": "hmn", "media_sha256": recording["sha256"]},
            ]
        },
    ).json()["media"]
    repeated = stack.services.repeats.introduced(
        Principal(SYSTEM, SYSTEM_ROLES, None), whole["sha256"], "Bão"
    )
    parts = stack.api.get(f"/api/media/{repeated}").json()["parts"]
    assert [p["language"] for p in parts] == ["vi", "vi", "hmn"]
    assert parts[0]["text"].startswith("Bản tin phát lúc")
    heard = {v["zone"]: v["hears"] for v in stack.api.get(f"/api/media/{repeated}/villages").json()}
    # the Kinh village: the time, then the Vietnamese version; the Hmong one: its version only
    assert heard == {"thon-kinh": ["vi", "vi"], "ban-hmong": ["hmn"]}
