"""CAP 1.2 alerts posted by a warning centre become broadcasts on the right villages: spoken
from their Vietnamese text (or played from their own audio once its digest checks), emergency
or advisory by the station's rules, released by two people unless the feed says otherwise;
Test and Exercise never reach the public; Update and Cancel follow their references; a
malformed, expired or unauthenticated document broadcasts nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.cap import audio_resource, cap_alert
from tests.support.mosquitto import Mosquitto
from tests.support.stack import Stack, wait_for

TOKEN = "kttv-feed-token-0123456789"
AUTO = "auto-feed-token-0123456789"


@pytest.fixture
def station(tmp_path: Path, mosquitto: Mosquitto):
    s = Stack(
        tmp_path,
        mosquitto.port,
        cap_feeds={
            "kttv": {"token": TOKEN, "test_zone": "thu-nghiem"},
            "tu-dong": {"token": AUTO, "policy": "auto"},
        },
    ).start()
    s.api.post(
        "/api/zones", json={"id": "thon-dong", "name": "Thôn Đông", "geocodes": ["xa=VN-XA-0001"]}
    ).raise_for_status()
    s.add_zone("ban-na", "Bản Nà")
    s.add_zone("thu-nghiem", "Nhóm thử nghiệm")
    s.register("loa-dong", ["thon-dong"])
    s.register("loa-na", ["ban-na"])
    s.register("loa-thu", ["thu-nghiem"])
    s.api.put("/api/devices/loa-na/location", json={"latitude": 21.3, "longitude": 105.5})
    yield s
    s.stop()


def _post(s: Stack, document: bytes, token: str = TOKEN) -> httpx.Response:
    return httpx.post(
        f"{s.base_url}/api/cap",
        content=document,
        timeout=120,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/cap+xml"},
    )


def _broadcasts(s: Stack) -> list[dict]:
    return s.api.get("/api/broadcasts").json()


def _spoken(s: Stack, out: dict) -> dict:
    """The alert's record once its own audio is made (the answer does not wait for it)."""
    assert out["speech"] == "pending", out

    def record() -> dict | None:
        row = next(a for a in s.api.get("/api/cap").json() if a["id"] == out["alert_id"])
        return None if row["speech"] == "pending" else row

    return wait_for(record, timeout=60, what="the alert's speech made")


def test_an_actual_storm_alert_becomes_a_spoken_repeating_emergency_for_its_villages(station):
    s = station
    r = _post(s, cap_alert())
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["action"] == "emergency"
    assert out["zones"] == ["thon-dong"]
    assert out["broadcast_id"] is None  # spoken after the answer
    out = {**out, "broadcast_id": _spoken(s, out)["broadcast_id"]}
    b = s.get_broadcast(out["broadcast_id"])
    assert b["state"] == "pending_confirmation"
    assert b["priority"] == "emergency"
    assert b["targets"] == ["zone:thon-dong"]
    assert b["title"] == "Cảnh báo bão số 9"
    assert b["series_id"] == b["id"]  # repeated every 2 hours until it expires (48 at most)
    media = s.api.get(f"/api/media/{b['media_sha256']}").json()
    assert media["text"].startswith("Cảnh báo bão số 9\nBão số 9 đang tiến vào đất liền")
    assert media["voice"] == s.services.speech.default_voice()
    # the same alert again: nothing new
    again = _post(s, cap_alert())
    assert again.json()["duplicate"]
    assert again.json()["broadcast_id"] == out["broadcast_id"]
    assert len([x for x in _broadcasts(s) if x["repeat_index"] == 0]) == 1
    log = s.api.get("/api/cap").json()
    assert [a["action"] for a in log] == ["emergency"]
    # an Update replaces it; a Cancel withdraws the update
    ref = "kttv@nchmf.gov.vn,VN-KTTV-2026-0091,2026-12-01T14:30:00+07:00"
    update = _post(
        s,
        cap_alert(
            "VN-KTTV-2026-0092", msg_type="Update", references=ref, headline="Cập nhật bão số 9"
        ),
    )
    assert update.json()["action"] == "emergency"
    assert s.get_broadcast(out["broadcast_id"])["state"] == "rejected"  # never confirmed
    updated = _spoken(s, update.json())
    ref2 = "kttv@nchmf.gov.vn,VN-KTTV-2026-0092,2026-12-01T15:00:00+07:00"
    cancel = _post(s, cap_alert("VN-KTTV-2026-0093", msg_type="Cancel", references=ref2))
    assert cancel.json()["action"] == "cancelled"
    assert s.get_broadcast(updated["broadcast_id"])["state"] == "rejected"


def test_test_and_exercise_never_reach_the_public(station):
    s = station
    test = _post(s, cap_alert("T-1", status="Test"))
    assert test.json()["action"] == "test"
    assert test.json()["zones"] == ["thu-nghiem"]
    b = s.get_broadcast(_spoken(s, test.json())["broadcast_id"])
    assert b["targets"] == ["zone:thu-nghiem"]
    assert b["priority"] == "priority"
    assert {d["device_id"] for d in b["deliveries"]} == {"loa-thu"}
    assert _post(s, cap_alert("S-1", status="System")).json()["action"] == "logged"


def test_areas_by_polygon_rules_and_refusals(station):
    s = station
    square = "<polygon>21.25,105.45 21.35,105.45 21.35,105.55 21.25,105.55 21.25,105.45</polygon>"
    advisory = _post(
        s, cap_alert("P-1", area=square, urgency="Future", severity="Moderate", certainty="Likely")
    )
    assert advisory.json()["action"] == "advisory"
    assert advisory.json()["zones"] == ["ban-na"]
    spoken = _spoken(s, advisory.json())
    assert s.get_broadcast(spoken["broadcast_id"])["state"] == "pending_approval"
    assert _post(s, cap_alert("M-1", severity="Minor")).json()["action"] == "ignored"
    nowhere = "<geocode><valueName>xa</valueName><value>VN-XA-9999</value></geocode>"
    assert _post(s, cap_alert("N-1", area=nowhere)).json()["action"] == "no_area"
    before = len(_broadcasts(s))
    expired = _post(s, cap_alert("E-1", expires="2020-01-01T00:00:00+07:00"))
    assert expired.status_code == 422
    assert expired.json()["error"]["code"] == "cap.expired"
    malformed = _post(s, cap_alert("X-1", sent="2026-12-01T14:30:00Z"))
    assert malformed.status_code == 422
    assert "alert/sent" in malformed.json()["error"]["messages"]["en"]
    assert _post(s, cap_alert("X-2"), token="wrong-token-0000000000").status_code == 401
    assert len(_broadcasts(s)) == before  # none of these broadcast anything
    refused = [
        e
        for e in s.api.get("/api/audit").json()
        if e["action"] == "cap.receive" and e["outcome"] == "refused"
    ]
    assert len(refused) == 2


def test_an_alerts_own_audio_is_played_once_its_digest_checks(station, speech_wav):
    s = station
    audio = speech_wav.read_bytes()
    good = _post(s, cap_alert("A-1", resource=audio_resource(audio)))
    assert good.json()["action"] == "emergency"
    made = _spoken(s, good.json())
    media = s.api.get(f"/api/media/{s.get_broadcast(made['broadcast_id'])['media_sha256']}").json()
    assert media["text"] is None
    assert media["original_filename"] == "cap-audio"
    bad = _post(s, cap_alert("A-2", resource=audio_resource(audio, digest="0" * 40)))
    assert bad.status_code == 422
    assert "digest" in bad.text


def test_a_feed_trusted_to_release_plays_at_once_and_is_audited(station):
    s = station
    s.start_agent("loa-dong")
    out = _post(s, cap_alert("AUTO-1", expires=None), token=AUTO).json()
    assert out["action"] == "emergency"
    assert out["pinned"] is None  # nothing pinned: the spoken alert alone
    out = _spoken(s, out)
    b = s.get_broadcast(out["broadcast_id"])
    assert b["approved_by"] == "cap:tu-dong:auto"
    assert b["state"] not in ("pending_confirmation", "rejected", "cancelled")
    s.wait_states(out["broadcast_id"], {"played"}, timeout=90)
    confirms = [e for e in s.api.get("/api/audit").json() if e["action"] == "broadcast.confirm"]
    assert confirms
    assert confirms[0]["actor"] == "cap:tu-dong:auto"
    wait_for(lambda: len(s.output_files("loa-dong")) == 1, what="played on thôn Đông")


def test_an_automatic_alert_sounds_its_pinned_message_at_once_and_the_speech_follows(
    station, speech_wav
):
    s = station
    s.start_agent("loa-dong")
    media = s.upload(speech_wav, title="Bão: sơ tán")
    flood = s.upload(speech_wav, title="Lũ quét")
    for message, title, sha, words in (
        ("lu-quet", "Lũ quét", flood["sha256"], ["lũ quét"]),
        ("bao", "Bão — sơ tán ngay", media["sha256"], ["Bão", "typhoon"]),
    ):
        r = s.api.put(
            f"/api/pinned/{message}",
            json={"title": title, "media_sha256": sha, "cap_words": words},
        )
        assert r.status_code == 200, r.text
    assert [m["cap_words"] for m in r.json()["messages"]] == [["bão", "typhoon"], ["lũ quét"]]
    wait_for(
        lambda: next(
            d["current"]
            for d in s.api.get("/api/pinned").json()["devices"]
            if d["device_id"] == "loa-dong"
        ),
        timeout=30,
        what="the pinned set on thôn Đông",
    )
    out = _post(s, cap_alert("AUTO-P", expires=None), token=AUTO).json()
    assert (out["action"], out["pinned"], out["speech"]) == ("emergency", "bao", "pending")
    first = s.get_broadcast(out["broadcast_id"])
    assert first["media_sha256"] == media["sha256"]  # on every cluster's disk: nothing to make
    assert first["priority"] == "emergency"
    assert first["approved_by"] == "cap:tu-dong:auto"
    record = _spoken(s, out)
    assert record["speech"] == "done"
    assert record["broadcast_id"] == out["broadcast_id"]
    spoken = s.get_broadcast(record["spoken_broadcast_id"])
    said = s.api.get(f"/api/media/{spoken['media_sha256']}").json()
    assert said["text"].startswith("Cảnh báo bão số 9")
    assert said["created_at"] > first["created_at"]  # the speech was made after the first play
    s.wait_states(out["broadcast_id"], {"played"}, timeout=60)
    s.wait_states(spoken["id"], {"played"}, timeout=90)
    first, spoken = s.get_broadcast(first["id"]), s.get_broadcast(spoken["id"])
    ends = datetime.fromisoformat(first["start_at"]) + timedelta(milliseconds=media["duration_ms"])
    assert datetime.fromisoformat(spoken["start_at"]) >= ends  # one after the other
    wait_for(lambda: len(s.output_files("loa-dong")) == 2, what="both played on thôn Đông")
    # an alert whose words name no pinned message is spoken alone
    other = _post(
        s, cap_alert("AUTO-Q", expires=None, event="Cháy rừng", headline="Cháy rừng"), token=AUTO
    )
    assert other.json()["pinned"] is None
