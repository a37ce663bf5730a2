"""Probe, measure, normalise and encode audio with ffmpeg: one loudness for every bulletin.

Target −16 LUFS integrated, true peak at most −1.5 dBTP *in the stored Opus file*
(docs/media.md says why). Each step works on what listeners get, the mono 48 kHz downmix:

1. **probe** (ffprobe): audio we accept, duration within limits;
2. **measure** (``ebur128``, true peak, at the native rate of the downmix; decoding every
   sample with ``-xerror`` also catches truncated files). A clip shorter than the 3 s
   short-term window is measured looped, so a 0.5 s chime is not judged by its silence;
3. **gain**: one linear gain to the target; where the peaks would then pass the ceiling, a
   look-ahead limiter holds them, and the gain is corrected for the loudness the limiter takes
   (measured on a fast pass without encoding);
4. **encode** to mono Opus (20 kb/s, ``voip``) in Ogg;
5. **check** the stored file itself: its loudness and true peak after Opus. If it is more than
   ``tolerance_lu`` off or over the ceiling it is encoded once more with a corrected gain and
   limit; what is still off is flagged (``EncodedMedia.warning``) and shown to the user.

ffmpeg's two-pass ``loudnorm`` is not used: it measures after resampling to 192 kHz (~34x
realtime per pass), misjudges clips under 3 s, and its true-peak limit applies before the
codec, which overshoots it.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACCEPTED_FORMATS = {
    "wav": "wav",
    "mp3": "mp3",
    "mov,mp4,m4a,3gp,3g2,mj2": "m4a",
    "aac": "aac",
    "ogg": "ogg",
    "flac": "flac",
    "matroska,webm": "webm",  # what browsers record (Opus in WebM)
}
SHORT_S = 3.0  # EBU R128 short-term window: shorter clips are measured looped
SILENT_LUFS = -69.5  # ebur128 says -70.0 for digital silence (everything gated)

Progress = Callable[[str, float], None]
"""``(stage, fraction of the whole job done)``: measuring, encoding, checking."""


def no_progress(stage: str, done: float) -> None:
    pass


class MediaRejected(ValueError):
    """Input that is not acceptable audio; ``key`` is an i18n message key."""

    def __init__(self, key: str, **params: object):
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class Probe:
    format: str
    duration_s: float
    codec: str
    sample_rate: int
    channels: int


@dataclass(frozen=True)
class Loudness:
    integrated_lufs: float
    true_peak_dbtp: float
    decoded_s: float = 0.0  # how much audio the measurement decoded


@dataclass(frozen=True)
class EncodeSettings:
    loudness_target_lufs: float = -16.0
    true_peak_dbtp: float = -1.5
    tolerance_lu: float = 1.0
    opus_bitrate_kbps: int = 20
    min_duration_s: float = 0.3
    max_duration_s: float = 7200.0
    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"

    @classmethod
    def of(cls, settings: Any) -> EncodeSettings:
        """The controller's settings for its pipeline (``controller.settings.Settings``)."""
        return cls(**{field: getattr(settings, name) for field, name in _SETTING_NAMES.items()})


_SETTING_NAMES = {
    "loudness_target_lufs": "loudness_target_lufs",
    "true_peak_dbtp": "true_peak_dbtp",
    "tolerance_lu": "loudness_tolerance_lu",
    "opus_bitrate_kbps": "opus_bitrate_kbps",
    "min_duration_s": "min_duration_s",
    "max_duration_s": "max_duration_s",
    "ffmpeg": "ffmpeg",
    "ffprobe": "ffprobe",
}


@dataclass(frozen=True)
class EncodedMedia:
    path: Path
    original_format: str
    duration_ms: int
    loudness_in: Loudness
    loudness_out_lufs: float
    true_peak_out_dbtp: float
    warning: str | None = None  # i18n key when the stored file is still off target


def probe(path: Path, settings: EncodeSettings) -> Probe:
    """What the file claims to be; raises MediaRejected if it is not audio we accept."""
    proc = subprocess.run(
        [
            settings.ffprobe,
            "-v",
            "error",
            "-show_format",
            "-show_streams",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        raise MediaRejected("upload.not_audio")
    try:
        info = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise MediaRejected("upload.not_audio") from None
    fmt = info.get("format", {}).get("format_name", "")
    audio = [s for s in info.get("streams", []) if s.get("codec_type") == "audio"]
    if not audio:
        raise MediaRejected("upload.not_audio")
    if fmt not in ACCEPTED_FORMATS:
        raise MediaRejected("upload.unsupported_format", format=fmt)
    try:
        duration = float(info["format"].get("duration") or audio[0].get("duration"))
    except (TypeError, ValueError):
        raise MediaRejected("upload.not_audio") from None
    if not math.isfinite(duration) or duration <= 0:
        raise MediaRejected("upload.not_audio")
    check_duration(duration, settings)
    stream = audio[0]
    return Probe(
        format=ACCEPTED_FORMATS[fmt],
        duration_s=duration,
        codec=stream.get("codec_name", ""),
        sample_rate=int(stream.get("sample_rate") or 0),
        channels=int(stream.get("channels") or 0),
    )


def check_duration(duration: float, settings: EncodeSettings) -> None:
    if duration < settings.min_duration_s:
        raise MediaRejected("upload.too_short", min_s=settings.min_duration_s)
    if duration > settings.max_duration_s:
        raise MediaRejected("upload.too_long", max_min=round(settings.max_duration_s / 60))


# --- running ffmpeg -------------------------------------------------------------------------

_TIME = re.compile(r"^out_time_us=(\d+)$", re.M)


def _ffmpeg(
    args: list[str], settings: EncodeSettings, seconds: float, on_fraction: Callable[[float], None]
) -> tuple[str, float]:
    """Run ffmpeg with ``-progress`` on stdout, reporting the fraction of ``seconds`` of audio
    processed so far; returns its stderr and how many seconds it processed."""
    done = 0.0
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [settings.ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-progress", "pipe:1", *args],
            stdout=subprocess.PIPE,
            stderr=err,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            match = _TIME.match(line.decode(errors="replace").strip())
            if match:
                done = max(done, int(match.group(1)) / 1e6)
                if seconds > 0:
                    on_fraction(min(1.0, done / seconds))
        proc.wait()
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise MediaRejected("upload.truncated")
    return stderr, done


def _input(path: Path, duration_s: float) -> list[str]:
    """The input arguments: a clip under the short-term window is read looped (≥ 6 s)."""
    if duration_s < SHORT_S:
        loops = math.ceil(2 * SHORT_S / max(duration_s, 0.05))
        return ["-stream_loop", str(loops), "-i", str(path)]
    return ["-i", str(path)]


DOWNMIX = "aformat=sample_fmts=flt:sample_rates=48000:channel_layouts=mono"
"""First in every chain: the mono 48 kHz signal listeners get is what is measured and levelled
(a ``-ac 1`` output option would downmix only after the filters)."""

_I = re.compile(r"Integrated loudness:\s*\n\s*I:\s*(-?[\d.]+|-?inf|nan) LUFS")
_TP = re.compile(r"True peak:\s*\n\s*Peak:\s*(-?[\d.]+|-?inf|nan) dBFS")


LONG_S = 120.0
"""Inputs longer than this have their limiter passes run on a sample of the downmix: a tenth
of it, in about 60 windows (2 s of every 20 s at two minutes, 6 s of every minute at an hour)."""


def _sample_windows(duration_s: float) -> tuple[float, float]:
    every = max(20.0, round(duration_s / 60))
    return every, every / 10


def measure(
    path: Path,
    settings: EncodeSettings,
    duration_s: float,
    *,
    af: str = "",
    true_peak: bool = True,
    on_fraction: Callable[[float], None] = lambda f: None,
    sample_to: Path | None = None,
) -> Loudness:
    """Integrated loudness (and true peak) of the mono 48 kHz downmix of ``path``, after the
    filter chain ``af`` if any. Decodes every sample; a broken file raises. ``sample_to``
    also writes a sample of the downmix there (float WAV), in the same pass."""
    meter = f"ebur128=peak={'true' if true_peak else 'none'}"
    loops = math.ceil(2 * SHORT_S / max(duration_s, 0.05)) if duration_s < SHORT_S else 0
    if sample_to is None:
        chain = ",".join(x for x in (DOWNMIX, af, meter) if x)
        outputs = ["-map", "0:a:0", "-af", chain, "-f", "null", "-"]
    else:
        every, length = _sample_windows(duration_s)
        pick = f"aselect='lt(mod(t\\,{every:g})\\,{length:g})',asetpts=N/SR/TB"
        graph = f"[0:a:0]{DOWNMIX},asplit=2[m][s];[m]{meter}[out];[s]{pick}[sample]"
        outputs = [
            "-filter_complex",
            graph,
            "-map",
            "[out]",
            "-f",
            "null",
            "-",
            "-map",
            "[sample]",
            "-c:a",
            "pcm_f32le",
            "-y",
            str(sample_to),
        ]
    stderr, decoded = _ffmpeg(
        ["-xerror", *_input(path, duration_s), *outputs],
        settings,
        duration_s * (loops + 1),
        on_fraction,
    )
    # the last summary: with a filter graph ffmpeg also prints one for a graph it only probed
    i_found, tp_found = _I.findall(stderr), _TP.findall(stderr)
    if not i_found or (true_peak and not tp_found):
        raise MediaRejected("upload.not_audio")
    integrated = float(i_found[-1])
    peak = float(tp_found[-1]) if tp_found else float("nan")
    return Loudness(
        integrated_lufs=integrated, true_peak_dbtp=peak, decoded_s=decoded / (loops + 1)
    )


def level_chain(gain_db: float, limit_dbfs: float | None) -> str:
    """The level chain: a linear gain, then (when peaks need it) a look-ahead limiter."""
    parts = [f"volume={gain_db:.2f}dB"]
    if limit_dbfs is not None:
        parts.append(
            f"alimiter=limit={10 ** (limit_dbfs / 20):.4f}:level=false:"
            "attack=5:release=50:latency=true"
        )
    return ",".join(parts)


def _encoder_args(
    src: Path, gain_db: float, limit_dbfs: float | None, settings: EncodeSettings
) -> list[str]:
    """The level chain on the mono 48 kHz downmix, into Opus in Ogg on stdout, bit-exact (the
    same input gives the same bytes, hence the same SHA-256)."""
    return [
        settings.ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-v",
        "error",
        "-i",
        str(src),
        "-map",
        "0:a:0",
        "-af",
        f"{DOWNMIX},{level_chain(gain_db, limit_dbfs)}",
        "-c:a",
        "libopus",
        "-b:a",
        f"{settings.opus_bitrate_kbps}k",
        "-vbr",
        "on",
        "-application",
        "audio",
        "-frame_duration",
        "60",
        "-compression_level",
        "5",
        "-map_metadata",
        "-1",
        "-fflags",
        "+bitexact",
        "-flags:a",
        "+bitexact",
        "-f",
        "ogg",
        "pipe:1",
    ]


def encode_and_measure(
    src: Path,
    dst: Path,
    gain_db: float,
    limit_dbfs: float | None,
    settings: EncodeSettings,
    duration_s: float,
    on_fraction: Callable[[float], None] = lambda f: None,
) -> Loudness:
    """Encode ``src`` into ``dst`` and measure the encoded stream as it is written: the
    encoder and a decoder measuring its output run side by side (two cores, one pass)."""
    with tempfile.TemporaryFile() as enc_err, tempfile.TemporaryFile() as dec_err:
        encoder = subprocess.Popen(
            _encoder_args(src, gain_db, limit_dbfs, settings),
            stdout=subprocess.PIPE,
            stderr=enc_err,
        )
        checker = subprocess.Popen(
            [
                settings.ffmpeg,
                "-hide_banner",
                "-nostdin",
                "-nostats",
                "-progress",
                "pipe:1",
                "-f",
                "ogg",
                "-i",
                "pipe:0",
                "-af",
                "ebur128=peak=true",
                "-f",
                "null",
                "-",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=dec_err,
        )
        assert encoder.stdout is not None
        assert checker.stdin is not None
        assert checker.stdout is not None
        done = [0.0]

        def follow() -> None:  # the checker's progress: how much audio it has measured
            assert checker.stdout is not None
            for line in checker.stdout:
                match = _TIME.match(line.decode(errors="replace").strip())
                if match:
                    done[0] = max(done[0], int(match.group(1)) / 1e6)
                    if duration_s > 0:
                        on_fraction(min(1.0, done[0] / duration_s))

        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        try:
            with dst.open("wb") as out:
                while chunk := encoder.stdout.read(1 << 16):
                    out.write(chunk)
                    checker.stdin.write(chunk)
        except BrokenPipeError:
            pass
        finally:
            checker.stdin.close()
            encoder.wait()
            checker.wait()
            follower.join(timeout=10)
        dec_err.seek(0)
        stderr = dec_err.read().decode(errors="replace")
    if encoder.returncode != 0:
        raise MediaRejected("upload.truncated")
    if checker.returncode != 0:
        raise MediaRejected("upload.not_audio")
    i_match, tp_match = _I.search(stderr), _TP.search(stderr)
    if i_match is None or tp_match is None:
        raise MediaRejected("upload.not_audio")
    return Loudness(float(i_match.group(1)), float(tp_match.group(1)), done[0])


def decoded_duration_s(path: Path, settings: EncodeSettings) -> float:
    """Duration of an encoded file (Ogg/Opus has it exactly in its last granule position)."""
    proc = subprocess.run(
        [
            settings.ffprobe,
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    try:
        return float(proc.stdout.strip())
    except ValueError:
        raise MediaRejected("upload.truncated") from None
