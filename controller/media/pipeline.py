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


def _no_progress(stage: str, done: float) -> None:
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
    _check_duration(duration, settings)
    stream = audio[0]
    return Probe(
        format=ACCEPTED_FORMATS[fmt],
        duration_s=duration,
        codec=stream.get("codec_name", ""),
        sample_rate=int(stream.get("sample_rate") or 0),
        channels=int(stream.get("channels") or 0),
    )


def _check_duration(duration: float, settings: EncodeSettings) -> None:
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


def _chain(gain_db: float, limit_dbfs: float | None) -> str:
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
        f"{DOWNMIX},{_chain(gain_db, limit_dbfs)}",
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


# --- the whole job --------------------------------------------------------------------------

LIMITER_MARGIN_DB = 2.5
"""The limiter holds sample peaks this far below the true-peak ceiling: inter-sample peaks
and the Opus codec add about that much (measured on speech, docs/media.md)."""
CODEC_LOSS_LU = 0.1
"""What Opus at 20 kb/s takes off the integrated loudness of speech (measured)."""
MAX_LIMITING_DB = 10.0
"""Gain into the limiter is capped here: beyond it speech distorts; the result is flagged."""


def plan_level(measured: Loudness, settings: EncodeSettings) -> tuple[float, float | None]:
    """The gain to the target, and the limiter's sample-peak limit if the peaks need one."""
    gain = settings.loudness_target_lufs - measured.integrated_lufs
    if measured.true_peak_dbtp + gain > settings.true_peak_dbtp - LIMITER_MARGIN_DB / 2:
        return gain, settings.true_peak_dbtp - LIMITER_MARGIN_DB
    return gain, None


class LevelProbe:
    """Loudness after the level chain, before the codec, on fast passes without encoding: of
    the whole input, or for a long one of its sample (a tenth), offset to stand for the whole.
    The stored file is measured after encoding anyway, and corrected if the sample misled."""

    def __init__(
        self,
        src: Path,
        seconds: float,
        measured: Loudness,
        settings: EncodeSettings,
        sample: Path | None = None,
    ):
        self.settings, self.measured = settings, measured
        self.src, self.seconds = src, seconds
        self.offset = 0.0
        self._known: dict[tuple[float, float | None], float] = {}
        if sample is not None and sample.exists() and sample.stat().st_size > 0:
            sample_s = decoded_duration_s(sample, settings)
            own = measure(sample, settings, sample_s, true_peak=False).integrated_lufs
            if math.isfinite(own) and own > SILENT_LUFS:
                self.src, self.seconds = sample, sample_s
                self.offset = measured.integrated_lufs - own

    def pre_codec(self, gain: float, limit: float | None) -> float:
        key = (round(gain, 2), limit)
        if key not in self._known:
            self._known[key] = (
                measure(
                    self.src, self.settings, self.seconds, af=_chain(gain, limit), true_peak=False
                ).integrated_lufs
                + self.offset
            )
        return self._known[key]

    def gain_for(self, wanted: float, gain: float, limit: float) -> float:
        """The gain into the limiter that gives ``wanted`` LUFS before the codec: a limiter
        answers less than a decibel per decibel, so a few secant steps."""
        cap = wanted - self.measured.integrated_lufs + MAX_LIMITING_DB
        points: list[tuple[float, float]] = []
        for _ in range(5):
            got = self.pre_codec(gain, limit)
            points.append((gain, got))
            miss = wanted - got
            if abs(miss) < 0.2:
                break
            slope = 0.5  # a limiter at work gives about half a decibel per decibel
            if len(points) > 1:
                (g0, l0), (g1, l1) = points[-2], points[-1]
                slope = (l1 - l0) / (g1 - g0) if g1 != g0 else 1.0
            gain = min(cap, gain + miss / min(1.0, max(0.2, slope)))
        return gain


def _encode(
    src: Path,
    dst: Path,
    gain: float,
    limit: float | None,
    settings: EncodeSettings,
    seconds: float,
    on_fraction: Callable[[float], None],
) -> Loudness:
    """Encode and measure the stored file (a short clip again, looped, once it is written)."""
    out = encode_and_measure(src, dst, gain, limit, settings, seconds, on_fraction)
    if seconds < SHORT_S:
        out = measure(dst, settings, decoded_duration_s(dst, settings))
    return out


def _miss(out: Loudness, settings: EncodeSettings) -> float:
    """How far a stored file is from what it should be; passing the ceiling counts most."""
    over = max(0.0, out.true_peak_dbtp - settings.true_peak_dbtp)
    return abs(out.integrated_lufs - settings.loudness_target_lufs) + 10 * over


def process_upload(
    src: Path, dst: Path, settings: EncodeSettings, progress: Progress = _no_progress
) -> EncodedMedia:
    """Validate ``src`` and write its normalised Opus encoding to ``dst``."""
    info = probe(src, settings)
    seconds = info.duration_s

    def stage(name: str, start: float, width: float) -> Callable[[float], None]:
        return lambda fraction: progress(name, start + width * fraction)

    sample = dst.with_name(dst.name + ".sample.wav") if seconds > LONG_S else None
    try:
        return _process(src, dst, settings, progress, info, stage, sample)
    finally:
        if sample is not None:
            sample.unlink(missing_ok=True)


def _process(
    src: Path,
    dst: Path,
    settings: EncodeSettings,
    progress: Progress,
    info: Probe,
    stage: Callable[[str, float, float], Callable[[float], None]],
    sample: Path | None,
) -> EncodedMedia:
    seconds = info.duration_s
    measured = measure(
        src, settings, seconds, on_fraction=stage("measuring", 0.0, 0.2), sample_to=sample
    )
    if not math.isfinite(measured.integrated_lufs) or measured.integrated_lufs <= SILENT_LUFS:
        raise MediaRejected("upload.silent")
    # a container that announced much more than could be decoded was truncated
    if seconds >= SHORT_S and measured.decoded_s and measured.decoded_s < seconds * 0.9 - 0.5:
        raise MediaRejected("upload.truncated")
    target, ceiling = settings.loudness_target_lufs, settings.true_peak_dbtp
    gain, limit = plan_level(measured, settings)
    levels = LevelProbe(src, seconds, measured, settings, sample)
    if limit is not None:  # the limiter takes loudness: find the gain that makes up for it
        gain = levels.gain_for(target + CODEC_LOSS_LU, gain, limit)
    out = _encode(src, dst, gain, limit, settings, seconds, stage("encoding", 0.2, 0.8))
    if (
        abs(out.integrated_lufs - target) > settings.tolerance_lu / 2
        or out.true_peak_dbtp > ceiling
    ):
        # once more, corrected by what the stored file measured: what the codec (and, for a
        # long input, the sample) took, at the gain and limit that made it
        made_with = limit
        if out.true_peak_dbtp > ceiling:
            limit = (
                (limit if limit is not None else ceiling - LIMITER_MARGIN_DB)
                - (out.true_peak_dbtp - ceiling)
                - 0.5
            )
        if limit is not None:
            loss = levels.pre_codec(gain, made_with) - out.integrated_lufs
            gain = levels.gain_for(target + loss, gain, limit)
        else:
            gain += target - out.integrated_lufs
        progress("encoding", 0.8)
        again = dst.with_name(dst.name + ".again")
        try:
            second = _encode(src, again, gain, limit, settings, seconds, lambda f: None)
            if _miss(second, settings) < _miss(out, settings):  # else the first stays
                again.replace(dst)
                out = second
        finally:
            again.unlink(missing_ok=True)
    duration = decoded_duration_s(dst, settings)
    if seconds >= SHORT_S and duration < info.duration_s * 0.9 - 0.5:
        raise MediaRejected("upload.truncated")
    _check_duration(duration, settings)
    warning = None
    if abs(out.integrated_lufs - target) > settings.tolerance_lu or out.true_peak_dbtp > ceiling:
        warning = "media.loudness_off"
    progress("done", 1.0)
    return EncodedMedia(
        path=dst,
        original_format=info.format,
        duration_ms=round(duration * 1000),
        loudness_in=measured,
        loudness_out_lufs=round(out.integrated_lufs, 2),
        true_peak_out_dbtp=round(out.true_peak_dbtp, 2),
        warning=warning,
    )
