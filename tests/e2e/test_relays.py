"""Relays now, with no dead air: a stream that is connected but silent is left for the next
one within the threshold, a relay whose streams are all down plays its fallback file, and
the technician sees the dead air per relay and a dead-air alarm (real Icecast, ffmpeg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.support.audio import decode, dominant_hz, make_speech, read_wav
from tests.support.icecast import Icecast
from tests.support.stack import Stack, wait_for


def _find(haystack: np.ndarray, needle: np.ndarray) -> tuple[int, float]:
    """Where ``needle`` best matches in ``haystack`` and how well (normalised correlation)."""
    size = 1 << int(np.ceil(np.log2(len(haystack) + len(needle))))
    xcorr = np.fft.irfft(np.fft.rfft(haystack, size) * np.conj(np.fft.rfft(needle, size)), size)[
        : len(haystack) - len(needle) + 1
    ]
    at = int(np.argmax(xcorr))
    part = haystack[at : at + len(needle)]
    norm = float(np.sqrt(np.sum(part**2) * np.sum(needle**2))) or 1.0
    return at, float(xcorr[at]) / norm


def _one_village(stack: Stack) -> None:
    stack.add_zone("thon-dong")
    stack.register("loa-1", ["thon-dong"])
    stack.start_agent("loa-1")


def _finished(stack: Stack, play_id: str) -> dict:
    return wait_for(
        lambda: stack.events(type="playback.finished", play_id=play_id),
        timeout=60,
        what="the relay over",
    )[0]["payload"]


def test_a_silent_stream_is_left_for_the_next_within_the_threshold(stack: Stack, icecast: Icecast):
    icecast.feed("vov1.ogg", 0)  # the link is up, the studio sends nothing
    icecast.feed("vov1-du-phong.ogg", 880)
    for mount in ("vov1.ogg", "vov1-du-phong.ogg"):
        wait_for(lambda m=mount: icecast.mount_up(m), what=f"{mount} up", timeout=60)
    _one_village(stack)
    r = stack.api.post(
        "/api/relays",
        json={
            "targets": ["zone:thon-dong"],
            "url": icecast.url("vov1.ogg"),
            "fallback_urls": [icecast.url("vov1-du-phong.ogg")],
            "duration_s": 14,
            "title": "Tiếp sóng VOV1",
            "silence_s": 3,
        },
    )
    assert r.status_code == 201, r.text
    relay = r.json()
    assert relay["stream"]["kind"] == "relay"
    assert relay["state"] in ("scheduled", "sending", "sent")  # released at once (an admin)
    done = _finished(stack, relay["id"])
    assert done["stream_urls"] == [icecast.url("vov1.ogg"), icecast.url("vov1-du-phong.ogg")]
    assert done["silence_switches"] >= 1
    pcm = read_wav(stack.output_files("loa-1")[0])
    seconds = [pcm[i * 48000 : (i + 1) * 48000] for i in range(len(pcm) // 48000)]
    audible = [i for i, s in enumerate(seconds) if np.sqrt(np.mean(s**2)) > 0.03]
    assert audible, audible
    assert audible[0] <= 7, audible  # 3 s of silence, then the switch
    assert abs(dominant_hz(seconds[audible[0] + 1]) - 880) < 5
    assert done["dead_air_ms"] >= 2500  # at least the silence it waited out before switching
    # the technician: an alarm on the loudspeaker, and the dead air of the relay
    alarm = wait_for(
        lambda: [a for a in stack.alarms() if a["code"] == "dead_air"],
        timeout=30,
        what="the dead-air alarm",
    )[0]
    assert "vov1.ogg" in alarm["detail"]
    [report] = stack.api.get("/api/relays/dead-air").json()
    assert report["relay"] == "Tiếp sóng VOV1"
    assert report["switches"] >= 1
    assert report["dead_air_s"] == round(done["dead_air_ms"] / 1000, 1)  # the agent's, to 0.1 s
    assert report["plays"] == 1
    assert stack.get_broadcast(relay["id"])["deliveries"][0]["state"] == "played"


def test_a_relay_whose_streams_are_all_down_plays_its_fallback_file(
    stack: Stack, icecast: Icecast, tmp_path: Path
):
    _one_village(stack)
    fallback = stack.upload(
        make_speech(
            tmp_path / "du-phong.wav",
            "Xin lỗi bà con, đường "
            "truyền tiếp sóng đang gián đoạn. Mời bà con nghe "
            "chương trình của đài xã.",
        ),
        "Dự phòng",
    )
    r = stack.api.post(
        "/api/relays",
        json={
            "targets": ["zone:thon-dong"],
            "url": icecast.url("khong-co.ogg"),
            "fallback_urls": [icecast.url("cung-khong-co.ogg")],
            "duration_s": 20,
            "title": "Tiếp sóng đài tỉnh",
            "fallback_media_sha256": fallback["sha256"],
        },
    )
    assert r.status_code == 201, r.text
    done = _finished(stack, r.json()["id"])
    assert set(done["stream_urls"]) == {"fallback"}
    assert not done["interrupted"]
    # after the URLs were tried once more)
    pcm = read_wav(stack.output_files("loa-1")[0])
    assert abs(len(pcm) / 48000 - 20) < 0.1  # the slot keeps its length
    said = decode(stack.configs["loa-1"].data_path / "cache" / f"{fallback['sha256']}.opus")
    at, score = _find(pcm, said)  # the file began after the URLs had failed
    print(f"fallback file at {at / 48000:.1f} s: correlation {score:.2f}")
    assert score > 0.8
    assert at > 0


def test_a_bad_relay_is_refused_with_a_clear_message(stack: Stack):
    _one_village(stack)
    for body, says in (
        ({"url": "ftp://vov.vn/1", "duration_s": 60}, "url"),
        ({"url": "http://vov.vn/1", "duration_s": 0}, "duration_s"),
        ({"url": "http://vov.vn/1", "duration_s": 60, "priority": "emergency"}, "khẩn cấp"),
        ({"url": "http://vov.vn/1", "duration_s": 60, "fallback_media_sha256": "0" * 64}, ""),
    ):
        r = stack.api.post("/api/relays", json={"targets": ["zone:thon-dong"], **body})
        assert r.status_code in (404, 422), r.text
        assert says in r.text
    assert stack.api.get("/api/broadcasts").json() == []


def test_a_broadcaster_relays_from_the_web_form_and_it_waits_for_approval(
    stack: Stack, icecast: Icecast
):
    icecast.feed("tinh.ogg", 440)
    wait_for(lambda: icecast.mount_up("tinh.ogg"), what="the province's stream up", timeout=60)
    stack.add_zone("thon-dong", "Thôn Đông")
    stack.register("loa-1", ["thon-dong"])
    stack.start_agent("loa-1")
    lan = stack.person("lan", "broadcaster")
    assert "Tiếp sóng ngay" in lan.get("/ui/live").text
    bad = lan.post("/ui/relay", data={"url": "vov1", "minutes": "0"})
    assert bad.status_code == 422
    assert "Hãy nhập địa chỉ http(s)" in bad.text
    assert "Hãy chọn ít nhất một thôn" in bad.text
    assert stack.api.get("/api/broadcasts").json() == []
    sent = lan.post(
        "/ui/relay",
        follow_redirects=False,
        data={
            "title": "Tiếp sóng đài tỉnh",
            "url": icecast.url("tinh.ogg"),
            "minutes": "1",
            "fallback": "http://127.0.0.1:9/khong-co\n",
            "village": "thon-dong",
        },
    )
    assert sent.status_code == 303, sent.text
    broadcast_id = sent.headers["location"].rsplit("/", 1)[1]
    page = lan.get(sent.headers["location"]).text
    assert "Tiếp sóng đài tỉnh" in page
    assert icecast.url("tinh.ogg") in page
    b = stack.get_broadcast(broadcast_id)
    assert b["state"] == "pending_approval"
    assert b["stream"]["urls"][1] == "http://127.0.0.1:9/khong-co"
    approved = stack.person("chu-tich", "approver").post(f"/api/broadcasts/{broadcast_id}/approve")
    assert approved.status_code == 200, approved.text
    wait_for(
        lambda: stack.events(type="playback.started", play_id=broadcast_id),
        timeout=30,
        what="the relay on air",
    )
    assert stack.api.post(f"/api/broadcasts/{broadcast_id}/cancel").status_code == 200
    done = stack.wait_states(broadcast_id, {"interrupted"}, timeout=30)
    assert done["deliveries"][0]["started_at"]
    fleet = stack.person("minh", "technician").get("/ui/fleet").text
    assert "Tiếp sóng đài tỉnh" in fleet  # in the dead-air table, with its plays
