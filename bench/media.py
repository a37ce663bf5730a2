"""Media pipeline benchmark: normalise and encode an hour of speech, against ffmpeg by hand.

    .venv/bin/python bench/media.py [--minutes 60] [--format mp3|wav] [--swing 6]

Makes a long spoken Vietnamese file (espeak-ng, a different volume every minute, stereo MP3
at 44.1 kHz as a phone or a mixer would give it), then

1. runs the controller's pipeline on it (``controller.media.upload.process_upload``: probe,
   measure the mono downmix, level, encode to Opus, measure the stored file, re-encode if off);
2. runs the same ffmpeg work by hand, one command after the other, as an operator would: a
   loudness measurement, an encode with the gain it gives, a measurement of the result.

Prints both times, the pipeline's speed (x realtime), the ratio between them, and the loudness
and true peak of the stored file. Goal (issue 11): under 60 s for one hour, at most 1.2x by hand.
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from controller.media import pipeline
from controller.media.pipeline import DOWNMIX, EncodeSettings
from controller.media.upload import process_upload

TEXT = (
    "Kính thưa bà con, sau đây là bản tin của đài truyền thanh xã. Sáng mai, ngày mười hai "
    "tháng ba, Ủy ban nhân dân xã tổ chức họp tại nhà văn hoá thôn Đông. Đề nghị các hộ gia "
    "đình cử đại diện tham dự đầy đủ, đúng giờ. Trạm y tế xã tiếp tục tiêm vắc-xin cho trẻ "
    "dưới năm tuổi vào các ngày thứ ba và thứ năm hằng tuần. Bà con lưu ý phòng chống rét "
    "cho gia súc, gia cầm trong đợt không khí lạnh sắp tới."
)


def make_hour(path: Path, minutes: int, fmt: str, swing_db: float) -> float:
    """A long speech file: the text spoken at three rates, looped, its level changed minute by
    minute over ``swing_db`` (a live recording drifts a few dB; 18 is a harsh case)."""
    work = path.parent
    pieces = []
    for n, rate in enumerate((150, 170, 190)):
        piece = work / f"piece-{n}.wav"
        subprocess.run(
            ["espeak-ng", "-v", "vi", "-s", str(rate), "-w", str(piece), TEXT],
            check=True,
            capture_output=True,
        )
        pieces.append(piece)
    listing = work / "pieces.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in pieces))
    gains = [swing_db * (((m * 7) % 19) / 18 - 0.5) for m in range(minutes)]
    levels = "+".join(
        f"between(t,{m * 60},{m * 60 + 60})*{10 ** (db / 20):.3f}" for m, db in enumerate(gains)
    )
    codec = ["-c:a", "libmp3lame", "-b:a", "128k"] if fmt == "mp3" else ["-c:a", "pcm_s16le"]
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-stream_loop",
            "-1",
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
            str(listing),
            "-t",
            str(minutes * 60),
            "-af",
            f"volume='{levels}':eval=frame",
            "-ac",
            "2",
            "-ar",
            "44100",
            *codec,
            str(path),
        ],
        check=True,
    )
    return minutes * 60.0


class Recorder:
    """Every ffmpeg/ffprobe command the pipeline starts, in order (to replay them by hand)."""

    def __init__(self) -> None:
        self.commands: list[tuple[list[str], bool]] = []  # (argv, reads stdin)
        self._popen = subprocess.Popen

    def __enter__(self) -> Recorder:
        recorder = self

        class Recording(self._popen):  # type: ignore[misc, valid-type]
            def __init__(self, args: list[str], *rest: object, **options: object):
                recorder.commands.append(
                    ([str(a) for a in args], options.get("stdin") == subprocess.PIPE)
                )
                super().__init__(args, *rest, **options)

        pipeline.subprocess.Popen = Recording  # type: ignore[misc]
        return self

    def __exit__(self, *exc: object) -> None:
        pipeline.subprocess.Popen = self._popen  # type: ignore[misc]


def _by_hand(argv: list[str]) -> list[str]:
    """A command as an operator would type it: no progress reports for a program to read."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "-progress":
            skip = True
        else:
            out.append(arg)
    return out


def replay(commands: list[tuple[list[str], bool]], dst: Path) -> float:
    """Run the same commands one after the other from a shell; the encoder that fed a checker
    through a pipe is run as ``encoder | tee file | checker``."""
    started = time.perf_counter()
    i = 0
    while i < len(commands):
        argv, _ = commands[i]
        if argv[-1] == "pipe:1" and i + 1 < len(commands) and commands[i + 1][1]:
            checker = _by_hand(commands[i + 1][0])
            line = (
                f"{shlex.join(_by_hand(argv))} | tee {shlex.quote(str(dst))} | "
                f"{shlex.join(checker)}"
            )
            subprocess.run(line, shell=True, check=True, capture_output=True)
            i += 2
            continue
        subprocess.run(_by_hand(argv), check=True, capture_output=True)
        i += 1
    return time.perf_counter() - started


def three_commands(src: Path, dst: Path, settings: EncodeSettings) -> float:
    """The least anyone would run: measure, encode with the gain it gives, measure the file
    (no limiter, no true-peak ceiling, no correction)."""
    started = time.perf_counter()
    first = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-nostats",
            "-i",
            str(src),
            "-af",
            f"{DOWNMIX},ebur128=peak=true",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    gain = settings.loudness_target_lufs - float(re.findall(r"I:\s*(-?[\d.]+) LUFS", first)[-1])
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(src),
            "-af",
            f"{DOWNMIX},volume={gain:.2f}dB",
            "-c:a",
            "libopus",
            "-b:a",
            f"{settings.opus_bitrate_kbps}k",
            "-application",
            "audio",
            "-frame_duration",
            "60",
            "-compression_level",
            "5",
            "-f",
            "ogg",
            str(dst),
        ],
        check=True,
    )
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-nostats",
            "-i",
            str(dst),
            "-af",
            "ebur128=peak=true",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        check=True,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--format", choices=("mp3", "wav"), default="mp3")
    parser.add_argument(
        "--swing", type=float, default=6.0, help="dB the level drifts over, minute by minute"
    )
    args = parser.parse_args()
    for tool in ("ffmpeg", "espeak-ng"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed (./run test installs it)")
    settings = EncodeSettings()
    with tempfile.TemporaryDirectory(prefix="loalang-bench-media-") as tmp:
        work = Path(tmp)
        src = work / f"speech.{args.format}"
        print(
            f"making {args.minutes} min of speech ({args.format}, stereo 44.1 kHz, level "
            f"drifting over {args.swing:g} dB) …",
            flush=True,
        )
        seconds = make_hour(src, args.minutes, args.format, args.swing)
        print(f"input: {src.stat().st_size / 1e6:.1f} MB, {seconds / 60:.0f} min")

        stages: list[str] = []
        with Recorder() as recorder:
            started = time.perf_counter()
            out = process_upload(
                src,
                work / "pipeline.opus",
                settings,
                lambda stage, done: (
                    stages.append(stage) if not stages or stages[-1] != stage else None
                ),
            )
            pipeline_s = time.perf_counter() - started
        hand_s = replay(recorder.commands, work / "hand.opus")
        least_s = three_commands(src, work / "least.opus", settings)

    ffmpeg_runs = sum(1 for argv, _ in recorder.commands if Path(argv[0]).name == "ffmpeg")
    print(
        f"pipeline: {pipeline_s:6.1f} s  ({seconds / pipeline_s:4.0f}x realtime, "
        f"{ffmpeg_runs} ffmpeg runs; stages {' → '.join(stages)})"
    )
    print(f"the same commands by hand, one after the other: {hand_s:6.1f} s")
    print(f"ratio pipeline / by hand: {pipeline_s / hand_s:.2f}  (goal ≤ 1.2)")
    print(f"for scale, measure + encode + measure with no limiter or check: {least_s:.1f} s")
    print(
        f"stored: {out.loudness_out_lufs:.1f} LUFS (target {settings.loudness_target_lufs}), "
        f"true peak {out.true_peak_out_dbtp:.1f} dBTP (ceiling {settings.true_peak_dbtp}); "
        f"input {out.loudness_in.integrated_lufs:.1f} LUFS, "
        f"{out.loudness_in.true_peak_dbtp:.1f} dBTP; warning: {out.warning}"
    )
    goal = 60.0 * args.minutes / 60
    print(
        f"goal: under {goal:.0f} s for {args.minutes} min — "
        f"{'met' if pipeline_s < goal else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
