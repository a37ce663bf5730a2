"""Probe, loudness-normalise and encode uploaded audio with ffmpeg.

Target: -16 LUFS integrated, -1.5 dBTP, LRA 7 LU (see docs/media.md for why), two-pass
``loudnorm`` (measure, then linear gain), mono 48 kHz Opus at 20 kb/s in Ogg for weak links.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
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
    lra_lu: float
    threshold_lufs: float
    target_offset_lu: float


@dataclass(frozen=True)
class EncodeSettings:
    loudness_target_lufs: float = -16.0
    true_peak_dbtp: float = -1.5
    loudness_range_lu: float = 7.0
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
    loudness_out_lufs: float | None


def probe(path: Path, settings: EncodeSettings) -> Probe:
    """What the file claims to be; raises MediaRejected if it is not audio we accept."""
    proc = subprocess.run(
        [settings.ffprobe, "-v", "error", "-show_format", "-show_streams", "-of", "json",
         str(path)],
        capture_output=True,
        text=True,
        timeout=60,
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


_JSON_BLOCK = re.compile(r"\{[^{}]*\"input_i\"[^{}]*\}", re.S)


def measure_loudness(path: Path, settings: EncodeSettings) -> Loudness:
    """First loudnorm pass; decoding the whole file also catches truncated or corrupt input."""
    af = (
        f"loudnorm=I={settings.loudness_target_lufs}:TP={settings.true_peak_dbtp}"
        f":LRA={settings.loudness_range_lu}:print_format=json"
    )
    proc = subprocess.run(
        [settings.ffmpeg, "-hide_banner", "-nostdin", "-xerror", "-i", str(path),
         "-map", "0:a:0", "-af", af, "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if proc.returncode != 0:
        raise MediaRejected("upload.truncated")
    match = _JSON_BLOCK.search(proc.stderr)
    if not match:
        raise MediaRejected("upload.not_audio")
    data = json.loads(match.group(0))
    try:
        values = {k: float(data[k]) for k in
                  ("input_i", "input_tp", "input_lra", "input_thresh", "target_offset")}
    except (KeyError, ValueError):
        raise MediaRejected("upload.not_audio") from None
    if not math.isfinite(values["input_i"]) or values["input_i"] < -70:
        raise MediaRejected("upload.silent")
    return Loudness(
        integrated_lufs=values["input_i"],
        true_peak_dbtp=values["input_tp"],
        lra_lu=values["input_lra"],
        threshold_lufs=values["input_thresh"],
        target_offset_lu=values["target_offset"] if math.isfinite(values["target_offset"]) else 0.0,
    )


def normalise_and_encode(src: Path, dst: Path, measured: Loudness, settings: EncodeSettings
                         ) -> None:
    """Second loudnorm pass (linear where possible) straight into mono 48 kHz Opus."""
    af = (
        f"loudnorm=I={settings.loudness_target_lufs}:TP={settings.true_peak_dbtp}"
        f":LRA={settings.loudness_range_lu}"
        f":measured_I={measured.integrated_lufs}:measured_TP={measured.true_peak_dbtp}"
        f":measured_LRA={measured.lra_lu}:measured_thresh={measured.threshold_lufs}"
        f":offset={measured.target_offset_lu}:linear=true"
    )
    proc = subprocess.run(
        [settings.ffmpeg, "-hide_banner", "-nostdin", "-y", "-i", str(src), "-map", "0:a:0",
         "-af", af, "-ar", "48000", "-ac", "1", "-c:a", "libopus",
         "-b:a", f"{settings.opus_bitrate_kbps}k", "-vbr", "on", "-application", "voip",
         "-frame_duration", "20", "-map_metadata", "-1", "-fflags", "+bitexact",
         "-flags:a", "+bitexact", "-f", "ogg", str(dst)],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if proc.returncode != 0:
        raise MediaRejected("upload.truncated")


def decoded_duration_s(path: Path, settings: EncodeSettings) -> float:
    """Exact duration of a file by decoding it (containers may only estimate it)."""
    proc = subprocess.run(
        [settings.ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
         str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return float(proc.stdout.strip())


def measure_integrated(path: Path, settings: EncodeSettings) -> float | None:
    """Integrated loudness of the encoded file, kept as a record of what listeners get."""
    try:
        return round(measure_loudness(path, settings).integrated_lufs, 2)
    except MediaRejected:
        return None


def process_upload(src: Path, dst: Path, settings: EncodeSettings) -> EncodedMedia:
    """Validate ``src`` and write its normalised Opus encoding to ``dst``."""
    info = probe(src, settings)
    loudness = measure_loudness(src, settings)
    normalise_and_encode(src, dst, loudness, settings)
    duration = decoded_duration_s(dst, settings)
    # A container that announced much more than could be decoded was truncated.
    if duration < info.duration_s * 0.9 - 0.5:
        raise MediaRejected("upload.truncated")
    _check_duration(duration, settings)
    return EncodedMedia(
        path=dst,
        original_format=info.format,
        duration_ms=round(duration * 1000),
        loudness_in=loudness,
        loudness_out_lufs=measure_integrated(dst, settings),
    )
