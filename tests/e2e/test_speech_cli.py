"""The CLI reads a text aloud to the villages and shows progress while the controller works."""

from __future__ import annotations

from tests.support.audio import make_speech
from tests.support.cli import run_cli
from tests.support.stack import Stack


def test_broadcast_a_text_in_the_southern_voice_and_follow_it(stack: Stack):
    stack.add_zone("thon-dong")
    stack.register("loa-1", ["thon-dong"])
    stack.start_agent("loa-1")
    out = run_cli(
        stack,
        "broadcast",
        "--text",
        "Thông báo: 8h sáng mai họp thôn.",
        "--voice",
        "south",
        "--to",
        "thon-dong",
        "--wait",
    )
    assert out.returncode == 0, out.stderr + out.stdout
    assert "played" in out.stdout
    # the progress bar, by stage (a short text may be spoken between two polls)
    assert any(
        stage in out.stdout + out.stderr
        for stage in ("đọc văn bản / speaking", "đo âm lượng / measuring", "mã hoá / encoding")
    )
    [media] = stack.api.get("/api/media").json()
    assert media["voice"] == "espeak:vi-vn-x-south"
    assert media["text"] == "Thông báo: 8h sáng mai họp thôn."
    assert len(stack.output_files("loa-1")) == 1


def test_upload_shows_progress_and_a_refusal_says_why(stack: Stack, speech_dir, tmp_path):
    path = make_speech(speech_dir / "cli-upload.wav")
    ok = run_cli(stack, "media", "upload", str(path), "--title", "Thử")
    assert ok.returncode == 0, ok.stderr
    assert "Tải lên / upload" in ok.stdout + ok.stderr
    assert '"title": "Thử"' in ok.stdout
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF not really a wave file" * 200)
    bad = run_cli(stack, "media", "upload", str(junk))
    assert bad.returncode == 1
    assert "upload.not_audio" in bad.stderr
    voices = run_cli(stack, "speech", "voices")
    assert "espeak:vi-vn-x-central" in voices.stdout
    said = run_cli(stack, "speech", "said", "UBND họp lúc 17:00")
    assert said.stdout.strip() == "Ủy ban nhân dân họp lúc mười bảy giờ"
