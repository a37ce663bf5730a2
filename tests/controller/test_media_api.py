"""Uploads over real HTTP: accepted formats are normalised; bad input gets a clear 4xx and
leaves no file or row behind."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from controller.db.models import Media
from tests.support.audio import make_speech
from tests.support.stack import Stack


@pytest.fixture
def small_stack(tmp_path, mosquitto):
    s = Stack(tmp_path, mosquitto.port, max_upload_bytes=600_000, max_duration_s=12).start()
    yield s
    s.stop()


def _stored(stack: Stack) -> tuple[list[Path], int]:
    root = stack.settings.media_dir
    files = [p for p in root.rglob("*") if p.is_file()]
    with stack.services.sessions() as session:
        rows = session.query(Media).count()
    return files, rows


def _post(stack: Stack, name: str, data: bytes, lang: str = "vi"):
    return stack.api.post(
        "/api/media", files={"file": (name, data)}, headers={"Accept-Language": lang}
    )


@pytest.mark.parametrize("ext", ["wav", "mp3", "m4a", "ogg", "opus", "flac"])
def test_accepted_formats_are_normalised_to_opus(small_stack: Stack, speech_dir: Path, ext):
    src = make_speech(speech_dir / f"accept.{ext}")
    r = _post(small_stack, src.name, src.read_bytes())
    assert r.status_code == 201, r.text
    m = r.json()
    assert m["mime"] == "audio/ogg"
    assert 1500 < m["duration_ms"] < 8000
    assert m["loudness_in_lufs"] is not None
    # loudness target −16 LUFS (short speech clips land within a couple of LU)
    assert m["loudness_out_lufs"] is not None
    assert abs(m["loudness_out_lufs"] + 16) < 3
    stored = small_stack.services.media.store.path_for(m["sha256"])
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,sample_rate,channels",
            "-of",
            "csv=p=0",
            str(stored),
        ],
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert probe == "opus,48000,1"


def test_same_upload_twice_is_stored_once(small_stack: Stack, speech_wav: Path):
    first = _post(small_stack, "a.wav", speech_wav.read_bytes())
    second = _post(small_stack, "b.wav", speech_wav.read_bytes())
    assert first.status_code == 201
    assert second.status_code == 200
    assert first.json()["sha256"] == second.json()["sha256"]
    assert _stored(small_stack)[1] == 1


def _lavfi(path: Path, source: str, *args: str) -> Path:
    """A file made by an ffmpeg generator (tones, silence, a picture)."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source, *args, str(path)], check=True
    )
    return path


def _bad_inputs(speech_dir: Path) -> dict[str, tuple[str, bytes, int, str]]:
    wav = make_speech(speech_dir / "bad-base.wav").read_bytes()
    mp3 = make_speech(speech_dir / "bad-base.mp3").read_bytes()
    long = _lavfi(speech_dir / "long.wav", "sine=frequency=300:duration=20", "-ar", "8000")
    silent = _lavfi(speech_dir / "silent.wav", "anullsrc=r=16000:cl=mono", "-t", "3")
    big = _lavfi(speech_dir / "big.wav", "sine=frequency=300:duration=10", "-ar", "48000")
    png = _lavfi(speech_dir / "pic.png", "color=c=red:s=32x32", "-frames:v", "1")
    return {
        "text": (
            "bulletin.mp3",
            "đây không phải âm thanh\n".encode() * 50,
            415,
            "upload.not_audio",
        ),
        "image": ("bulletin.wav", png.read_bytes(), 415, "upload.not_audio"),
        "empty": ("bulletin.wav", b"", 422, "upload.empty"),
        "truncated_wav": ("cut.wav", wav[: len(wav) // 3], 422, "upload.truncated"),
        "truncated_mp3": ("cut.mp3", mp3[: len(mp3) // 3], 422, "upload.truncated"),
        "too_long": ("long.wav", long.read_bytes(), 422, "upload.too_long"),
        "silent": ("silent.wav", silent.read_bytes(), 422, "upload.silent"),
        "too_large": ("big.wav", big.read_bytes(), 413, "upload.too_large"),
    }


def test_bad_uploads_get_a_clear_error_and_store_nothing(
    small_stack: Stack, speech_dir: Path, speech_wav: Path
):
    good = _post(small_stack, "good.wav", speech_wav.read_bytes())
    assert good.status_code == 201
    before = _stored(small_stack)
    for case, (name, data, status, code) in _bad_inputs(speech_dir).items():
        r = _post(small_stack, name, data)
        assert r.status_code == status, (case, r.text)
        error = r.json()["error"]
        assert error["code"] == code, case
        assert error["message"] == error["messages"]["vi"]
        assert error["messages"]["en"]
        assert _stored(small_stack) == before, f"{case} left something behind"
    # what was stored before is intact and still served
    sha = good.json()["sha256"]
    assert small_stack.api.get(f"/media/{sha}").status_code == 200


def test_errors_speak_english_on_request_and_missing_file_is_explained(small_stack: Stack):
    r = small_stack.api.post(
        "/api/media", data={"title": "x"}, headers={"Accept-Language": "en-GB,en;q=0.9"}
    )
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "No audio file was attached."
    r = small_stack.api.post("/api/media", data={"title": "x"})
    assert r.json()["error"]["message"] == "Chưa chọn tệp âm thanh để tải lên."


def test_api_refuses_callers_without_the_token(small_stack: Stack, speech_wav: Path):
    import httpx

    anon = httpx.Client(base_url=small_stack.base_url)
    assert anon.get("/api/devices").status_code == 401
    r = anon.post("/api/media", files={"file": ("a.wav", speech_wav.read_bytes())})
    assert r.status_code == 401
    assert _stored(small_stack)[1] == 0
