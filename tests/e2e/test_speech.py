"""Bulletins from text, end to end: spoken by each Vietnamese voice, kept with their text,
broadcast like any bulletin and heard in the agents' sinks; the lexicon, languages with no
voice, several language versions, and the job's progress."""

from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from protocol.messages import utcnow
from tests.support.audio import as_played, correlation, decode, make_speech, read_wav
from tests.support.stack import Stack, wait_for

TEXT = (
    "Thông báo: 8h sáng mai, ngày 12/3, UBND xã họp tại nhà văn hoá thôn Đông. "
    "Đề nghị 1.250 hộ dân cử đại diện tham dự. Liên hệ 0912 345 678."
)


def _speak(stack: Stack, parts: list[dict], title: str = "Họp thôn", **extra) -> dict:
    r = stack.api.post(
        "/api/speech", params={"wait": "true"}, json={"title": title, "parts": parts, **extra}
    )
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["state"] == "done", job
    return job["media"]


@pytest.fixture
def village(stack: Stack) -> Stack:
    stack.add_zone("thon-dong")
    stack.register("loa-1", ["thon-dong"])
    stack.start_agent("loa-1")
    return stack


@pytest.mark.parametrize("voice", ["espeak:vi", "espeak:vi-vn-x-central", "espeak:vi-vn-x-south"])
def test_a_text_spoken_in_each_voice_plays_on_the_loudspeaker(village: Stack, voice):
    stack = village
    media = _speak(stack, [{"language": "vi", "text": TEXT, "voice": voice}])
    assert media["text"] == TEXT
    assert media["voice"] == voice
    assert media["language"] == "vi"
    # ~60 syllables once the numbers are written out, at 150 a minute: 10 to 40 seconds
    assert 10_000 < media["duration_ms"] < 40_000
    assert abs(media["loudness_out_lufs"] + 16) <= 1
    assert media["loudness_warning"] is None
    b = stack.broadcast(media["sha256"], ["zone:thon-dong"])
    d = stack.wait_states(b["id"], {"played"}, timeout=90)["deliveries"][0]
    played = read_wav(stack.output_files("loa-1")[0])
    reference = decode(stack.services.media.store.path_for(media["sha256"]))
    score, _ = correlation(played, as_played(reference, d))
    assert score > 0.99, (score, d["joined_late_ms"])


def test_the_station_lexicon_changes_the_next_render(stack: Stack):
    before = stack.api.post("/api/speech/said", json={"text": "HND xã họp"}).json()["said"]
    assert before == "HND xã họp"
    first = _speak(stack, [{"text": "HND xã họp"}])
    r = stack.api.put("/api/speech/lexicon", json={"entries": {"HND": "Hội Nông dân"}})
    assert r.status_code == 200
    assert r.json() == {"HND": "Hội Nông dân"}
    assert (
        stack.api.post("/api/speech/said", json={"text": "HND xã họp"}).json()["said"]
        == "Hội Nông dân xã họp"
    )
    second = _speak(stack, [{"text": "HND xã họp"}])
    assert second["sha256"] != first["sha256"]
    assert second["duration_ms"] > first["duration_ms"]  # four syllables instead of three letters
    bad = stack.api.put("/api/speech/lexicon", json={"entries": {"HND": "số 5"}})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "speech.bad_lexicon_entry"
    assert stack.api.get("/api/speech/lexicon").json() == {"HND": "Hội Nông dân"}  # kept


def test_a_language_with_no_voice_is_recorded_and_versions_play_one_after_the_other(
    stack: Stack, speech_dir
):
    langs = {lang["code"]: lang for lang in stack.api.get("/api/speech/languages").json()}
    assert langs["vi"]["tts"]
    assert not langs["hmn"]["tts"]
    refused = stack.api.post(
        "/api/speech", json={"parts": [{"language": "hmn", "text": "Nyob zoo"}]}
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "speech.no_voice_for_language"
    recording = stack.upload(
        make_speech(speech_dir / "hmong.wav", "Nyob zoo cov neeg"), title="Bản H'Mông"
    )
    alone = _speak(stack, [{"language": "vi", "text": "Họp thôn lúc 8h."}])
    both = _speak(
        stack,
        [
            {"language": "vi", "text": "Họp thôn lúc 8h."},
            {"language": "hmn", "media_sha256": recording["sha256"]},
        ],
    )
    assert [p["language"] for p in both["parts"]] == ["vi", "hmn"]
    assert both["parts"][1]["media_sha256"] == recording["sha256"]
    # the Vietnamese version, a pause, then the recording
    assert both["duration_ms"] > alone["duration_ms"] + recording["duration_ms"]


def test_a_long_text_is_a_job_whose_progress_moves_forward(stack: Stack):
    long_text = " ".join([TEXT] * 12)
    r = stack.api.post("/api/speech", json={"title": "Dài", "parts": [{"text": long_text}]})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["state"] in ("queued", "running")
    seen = []

    def finished() -> bool:
        now = stack.api.get(f"/api/jobs/{job['id']}").json()
        seen.append((now["state"], now["stage"], now["progress"]))
        return now["state"] in ("done", "failed")

    wait_for(finished, timeout=120, interval=0.2, what="the long text spoken")
    assert seen[-1][0] == "done"
    progress = [p for _, _, p in seen]
    assert progress == sorted(progress)
    assert progress[-1] == 1.0
    assert "speaking" in {stage for _, stage, _ in seen}
    media = stack.api.get(f"/api/jobs/{job['id']}").json()["media"]
    assert media["duration_ms"] > 180_000
    assert media["text"] == long_text


def test_an_upload_in_the_background_reports_where_it_is(stack: Stack, speech_dir):
    path = make_speech(speech_dir / "nen.wav", "Bản tin tải lên chạy nền. " * 6)
    with path.open("rb") as fh:
        r = stack.api.post(
            "/api/media",
            params={"background": "true"},
            files={"file": (path.name, fh)},
            data={"title": "Chạy nền"},
        )
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    done = wait_for(
        lambda: (lambda j: j if j["state"] in ("done", "failed") else None)(
            stack.api.get(f"/api/jobs/{job_id}").json()
        ),
        timeout=60,
        what="upload processed",
    )
    assert done["state"] == "done"
    assert done["media"]["title"] == "Chạy nền"
    garbage = stack.api.post(
        "/api/media",
        params={"background": "true"},
        files={"file": ("x.wav", b"not audio at all" * 100)},
    )
    failed = wait_for(
        lambda: (lambda j: j if j["state"] in ("done", "failed") else None)(
            stack.api.get(f"/api/jobs/{garbage.json()['id']}").json()
        ),
        what="refusal",
    )
    assert failed["state"] == "failed"
    assert failed["error"]["code"] == "upload.not_audio"
    assert "không phải" in failed["error"]["messages"]["vi"]


def test_the_speech_page_edits_the_lexicon_and_a_bad_line_changes_nothing(stack: Stack):
    lan = stack.person("lan", "broadcaster")
    page = lan.get("/ui/speech")
    assert page.status_code == 200
    assert "Ủy ban nhân dân" in page.text
    assert 'id="default_voice" name="default_voice" disabled' in page.text  # the admin's choice
    tried = lan.post(
        "/ui/speech", data={"lexicon": "HND = Hội Nông dân", "sample": "HND họp", "action": "try"}
    )
    assert "Hội Nông dân họp" in tried.text
    assert stack.api.get("/api/speech/lexicon").json() == {}  # trying stores nothing
    saved = lan.post(
        "/ui/speech", data={"lexicon": "# ours\nHND = Hội Nông dân\n\nCLB = câu lạc bộ"}
    )
    assert saved.status_code == 200
    assert "Đã lưu." in saved.text
    assert stack.api.get("/api/speech/lexicon").json() == {
        "HND": "Hội Nông dân",
        "CLB": "câu lạc bộ",
    }
    bad = lan.post("/ui/speech", data={"lexicon": "HND = Hội Nông dân\nCLB câu lạc bộ"})
    assert bad.status_code == 422
    assert "Dòng 2" in bad.text
    assert "CLB câu lạc bộ" in bad.text  # what was typed is kept on the page
    digits = lan.post("/ui/speech", data={"lexicon": "HND = hội số 5"})
    assert digits.status_code == 422
    assert stack.api.get("/api/speech/lexicon").json() == {
        "HND": "Hội Nông dân",
        "CLB": "câu lạc bộ",
    }
    admin = stack.person("quan-tri", "admin")
    admin.post(
        "/ui/speech",
        data={"lexicon": "HND = Hội Nông dân", "default_voice": "espeak:vi-vn-x-central"},
    )
    assert 'value="espeak:vi-vn-x-central" selected' in lan.get("/ui/send").text


def test_the_send_form_makes_a_bulletin_from_text_in_a_job(village: Stack):
    stack = village
    admin = stack.person("quan-tri", "admin")
    empty = admin.post(
        "/ui/send", data={"title": "Họp", "village": "thon-dong", "content": "text", "text": "  "}
    )
    assert empty.status_code == 422
    assert "Chưa nhập văn bản cần đọc." in empty.text
    sent = admin.post(
        "/ui/send",
        data={
            "title": "Họp thôn",
            "village": "thon-dong",
            "content": "text",
            "text": TEXT,
            "voice": "espeak:vi",
        },
        follow_redirects=False,
    )
    assert sent.status_code == 303
    assert sent.headers["location"].startswith("/ui/jobs/")
    job_id = sent.headers["location"].rsplit("/", 1)[1]
    wait_for(
        lambda: stack.api.get(f"/api/jobs/{job_id}").json()["state"] == "done",
        timeout=90,
        what="the bulletin made",
    )
    job = stack.api.get(f"/api/jobs/{job_id}").json()
    assert job["broadcast_id"]
    assert job["media"]["text"] == TEXT
    page = admin.get(f"/ui/jobs/{job_id}", follow_redirects=False)
    assert page.headers["location"] == f"/ui/broadcasts/{job['broadcast_id']}"
    stack.wait_states(job["broadcast_id"], {"played"}, timeout=90)
    again = admin.get(f"/ui/send?again={job['broadcast_id']}").text
    assert "8h sáng mai" in again
    assert 'value="text" checked' in again


def _text_schedule(when, text: str, **item) -> dict:
    local = when.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    return {
        "timezone": "Asia/Ho_Chi_Minh",
        "quiet_hours": [],
        "schedules": [
            {
                "name": "thong-bao-hop",
                "title": "Thông báo họp",
                "targets": ["zone:thon-dong"],
                "start": local.strftime("%H:%M:%S"),
                "date": local.date().isoformat(),
                "programme": [{"text": text, **item}],
            }
        ],
    }


def test_a_schedule_text_is_spoken_when_applied_and_its_plan_carries_only_the_media(village: Stack):
    stack = village
    start = (utcnow() + timedelta(seconds=20)).replace(microsecond=0)
    wanted = _text_schedule(start, TEXT, voice="espeak:vi-vn-x-south")
    dry = stack.api.put("/api/schedules", params={"dry_run": "true"}, json=wanted)
    assert dry.status_code == 200
    assert dry.json()["added"] == ["thong-bao-hop"]
    assert stack.api.get("/api/media").json() == []  # a dry run speaks nothing
    r = stack.api.put("/api/schedules", json=wanted)
    assert r.status_code == 200, r.text
    assert r.json()["applied"], r.text
    stored = stack.api.get("/api/schedules/thong-bao-hop").json()["programme"][0]
    assert stored["text"] == TEXT
    assert stored["voice"] == "espeak:vi-vn-x-south"
    media = stack.api.get(f"/api/media/{stored['media']}").json()
    assert media["text"] == TEXT
    assert media["voice"] == "espeak:vi-vn-x-south"
    assert abs(media["loudness_out_lufs"] + 16) <= 1
    # the same text applied again is neither spoken again nor a change
    again = stack.api.put("/api/schedules", json=wanted)
    assert again.status_code == 200
    assert not again.json()["applied"]
    assert len(stack.api.get("/api/media").json()) == 1
    # the agent's plan names the media by hash (signed), never the text
    plan_path = stack.configs["loa-1"].data_path / "plan.json"
    entries = wait_for(
        lambda: (
            plan_path.exists() and json.loads(plan_path.read_text()).get("plan", {}).get("entries")
        ),
        what="the plan on the agent's disk",
    )
    assert entries[0]["media"]["sha256"] == stored["media"]
    assert TEXT not in plan_path.read_text()
    play_id = entries[0]["play_id"]
    d = stack.wait_states(play_id, {"played"}, timeout=90)["deliveries"][0]
    played = read_wav(stack.output_files("loa-1")[0])
    reference = decode(stack.services.media.store.path_for(stored["media"]))
    score, _ = correlation(played, as_played(reference, d))
    assert score > 0.99, (score, d["joined_late_ms"])


def test_a_schedule_text_that_cannot_be_spoken_is_refused_and_nothing_changes(village: Stack):
    stack = village
    start = utcnow() + timedelta(hours=2)
    for item, says in (
        ({"voice": "espeak:khong-co"}, "No voice"),
        ({"language": "hmn"}, "No synthetic voice"),
        ({"language": "fr"}, "not in the list"),
    ):
        r = stack.api.put("/api/schedules", json=_text_schedule(start, "Họp thôn", **item))
        assert r.status_code == 422, r.text
        problem = r.json()["problems"][0]
        assert problem["code"] == "text_not_speakable"
        assert says in problem["message"]
    empty = stack.api.put("/api/schedules", json=_text_schedule(start, "   "))
    assert empty.status_code == 422
    assert "empty" in empty.text
    assert stack.api.get("/api/schedules").json()["schedules"] == []
    assert stack.api.get("/api/media").json() == []


def test_the_routine_form_takes_a_text_item(village: Stack):
    stack = village
    chu_tich = stack.person("chu-tich", "approver")
    form = chu_tich.get("/ui/routine/new").text
    assert 'value="text"' in form
    assert 'name="text-0"' in form
    assert "espeak:vi-vn-x-central" in form
    data = {
        "name": "nhac-lich",
        "title": "Nhắc lịch họp",
        "villages": "thon-dong",
        "start": "06:30",
        "repeat": "daily",
        "priority": "normal",
        "item-0": "text",
        "text-0": "Sáng mai 8h họp thôn.",
        "voice-0": "",
    }
    blank = chu_tich.post("/ui/routine", data={**data, "text-0": " "})
    assert blank.status_code == 422
    assert "Mục 1: chưa nhập văn bản cần đọc." in blank.text
    saved = chu_tich.post("/ui/routine", data=data, follow_redirects=False)
    assert saved.status_code == 303
    assert "done=saved" in saved.headers["location"]
    item = stack.api.get("/api/schedules/nhac-lich").json()["programme"][0]
    assert item["text"] == "Sáng mai 8h họp thôn."
    assert item["voice"] is None
    assert item["media"]
    media = stack.api.get(f"/api/media/{item['media']}").json()
    assert media["voice"] == stack.services.speech.default_voice()
    assert "Đọc văn bản: “Sáng mai 8h họp thôn.”" in chu_tich.get("/ui/routine").text
    edit = chu_tich.get("/ui/routine/nhac-lich/edit").text
    assert "Sáng mai 8h họp thôn.</textarea>" in edit
