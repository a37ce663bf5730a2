"""An upload's whole job, from its file to the stored Opus: probe, measure, plan the level
(gain, and a limiter where the peaks need one, corrected for what it takes), encode, check the
stored file and encode once more if it missed. The steps are ``pipeline.py``'s."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from .pipeline import (
    LONG_S,
    SHORT_S,
    SILENT_LUFS,
    EncodedMedia,
    EncodeSettings,
    Loudness,
    MediaRejected,
    Probe,
    Progress,
    check_duration,
    decoded_duration_s,
    encode_and_measure,
    level_chain,
    measure,
    no_progress,
    probe,
)

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
                    self.src,
                    self.settings,
                    self.seconds,
                    af=level_chain(gain, limit),
                    true_peak=False,
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
    src: Path, dst: Path, settings: EncodeSettings, progress: Progress = no_progress
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
    check_duration(duration, settings)
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
