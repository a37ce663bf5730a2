"""One loudness for every bulletin: whatever comes in, the stored Opus file measures within
±1 LU of −16 LUFS with its true peak at or below −1.5 dBTP (ffmpeg's ebur128 on the file)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from controller.media.pipeline import EncodeSettings, MediaRejected
from controller.media.upload import process_upload
from tests.support.audio import make_speech

SETTINGS = EncodeSettings()
pytestmark = pytest.mark.e2e  # minutes of real ffmpeg work: the full suite, not the fast tier


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, capture_output=True)


def ebur128(path: Path, loops: int = 9) -> tuple[float, float]:
    """Integrated loudness and true peak of a file, measured apart from the pipeline (looped
    ten times: EBU R128 integrates 400 ms blocks, too few in a half-second clip)."""
    out = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-nostdin",
            "-stream_loop",
            str(loops),
            "-i",
            str(path),
            "-af",
            "ebur128=peak=true",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    integrated = float(re.findall(r"I:\s+(-?[\d.]+) LUFS", out)[-1])
    peak = float(re.findall(r"Peak:\s+(-?[\d.]+) dBFS", out)[-1])
    return integrated, peak


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("loudness")
    speech = make_speech(
        d / "speech.wav",
        "Kính thưa bà con, đây là bản tin của đài truyền "
        "thanh xã. Sáng mai lúc tám giờ họp thôn tại nhà văn hoá.",
    )
    long = d / "long.wav"
    _ffmpeg("-stream_loop", "12", "-i", str(speech), "-t", "60", str(long))
    made = {"60 s": long}
    for seconds in ("0.5", "1", "2", "5"):
        made[f"{seconds} s"] = d / f"clip-{seconds}.wav"
        _ffmpeg("-i", str(speech), "-t", seconds, str(made[f"{seconds} s"]))
    five = made["5 s"]
    made["quiet, −45 LUFS"] = d / "quiet.wav"
    _ffmpeg("-i", str(five), "-af", "volume=-26dB", str(made["quiet, −45 LUFS"]))
    made["clipped loud"] = d / "clipped.wav"
    _ffmpeg(
        "-i",
        str(five),
        "-af",
        "volume=20dB,alimiter=limit=1:level=false",
        str(made["clipped loud"]),
    )
    made["stereo"] = d / "stereo.wav"
    _ffmpeg("-i", str(five), "-af", "pan=stereo|c0=c0|c1=0.5*c0", str(made["stereo"]))
    made["5.1"] = d / "surround.wav"
    _ffmpeg(
        "-i",
        str(five),
        "-af",
        "pan=5.1|c0=c0|c1=c0|c2=c0|c3=0*c0|c4=0.3*c0|c5=0.3*c0",
        str(made["5.1"]),
    )
    made["MP3 near 0 dBTP"] = d / "hot.mp3"
    _ffmpeg(
        "-i",
        str(five),
        "-af",
        "volume=6dB",
        "-c:a",
        "libmp3lame",
        "-b:a",
        "128k",
        str(made["MP3 near 0 dBTP"]),
    )
    # long enough for the limiter's passes to run on a sample; its level jumps every 20 s
    made["3 min MP3, level drifting 18 dB"] = d / "drifting.mp3"
    steps = "+".join(
        f"between(t,{20 * n},{20 * n + 20})*{10 ** (((n * 7) % 10 - 6) * 2 / 20):.3f}"
        for n in range(9)
    )
    _ffmpeg(
        "-stream_loop",
        "2",
        "-i",
        str(long),
        "-t",
        "180",
        "-af",
        f"volume='{steps}':eval=frame",
        "-ac",
        "2",
        "-c:a",
        "libmp3lame",
        "-b:a",
        "128k",
        str(made["3 min MP3, level drifting 18 dB"]),
    )
    return made


@pytest.mark.parametrize(
    "name",
    [
        "0.5 s",
        "1 s",
        "2 s",
        "5 s",
        "60 s",
        "quiet, −45 LUFS",
        "clipped loud",
        "stereo",
        "5.1",
        "MP3 near 0 dBTP",
        "3 min MP3, level drifting 18 dB",
    ],
)
def test_every_input_ends_at_the_target_loudness_under_the_ceiling(inputs, name, tmp_path):
    out = tmp_path / "out.opus"
    encoded = process_upload(inputs[name], out, SETTINGS)
    integrated, peak = ebur128(out, loops=0 if name.startswith("3 min") else 9)
    assert abs(integrated - SETTINGS.loudness_target_lufs) <= 1.0, (name, integrated)
    assert peak <= SETTINGS.true_peak_dbtp, (name, peak)
    assert encoded.warning is None
    # what the pipeline recorded is what the file measures
    assert abs(encoded.loudness_out_lufs - integrated) < 0.5


def test_what_cannot_reach_the_target_is_flagged_not_hidden(inputs, tmp_path):
    """A target the codec cannot meet here (a very tight tolerance) is reported as a warning
    the page shows, and the bulletin is still stored."""
    tight = EncodeSettings(tolerance_lu=0.01)
    encoded = process_upload(inputs["60 s"], tmp_path / "out.opus", tight)
    assert encoded.warning == "media.loudness_off"


def test_silence_and_broken_files_are_refused(tmp_path):
    silent = tmp_path / "silent.wav"
    _ffmpeg("-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono", "-t", "3", str(silent))
    with pytest.raises(MediaRejected) as exc:
        process_upload(silent, tmp_path / "x.opus", SETTINGS)
    assert exc.value.key == "upload.silent"
    broken = tmp_path / "broken.mp3"
    speech = make_speech(tmp_path / "s.mp3")
    broken.write_bytes(speech.read_bytes()[: len(speech.read_bytes()) // 3])
    with pytest.raises(MediaRejected) as exc:
        process_upload(broken, tmp_path / "y.opus", SETTINGS)
    assert exc.value.key == "upload.truncated"


def test_progress_is_reported_in_order(inputs, tmp_path):
    seen: list[tuple[str, float]] = []
    process_upload(
        inputs["60 s"],
        tmp_path / "out.opus",
        SETTINGS,
        lambda stage, done: seen.append((stage, done)),
    )
    fractions = [done for _, done in seen]
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0
    assert [s for s, _ in seen][0] == "measuring"
    assert seen[-1][0] == "done"
    assert "encoding" in {s for s, _ in seen}
