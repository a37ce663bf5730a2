"""Judging one play from two envelopes — what was played, what the microphone heard — and
the cluster's calibrated gain. Pure: no I/O, no clock.

The heard envelope is searched for the played one over a window of delays; at the best
delay, the correlation of the two (every band, mean) says whether it is the same sound, and a
regression of heard power on played power (heard = gain · played + noise) gives the gain —
the level against the calibration — and the noise, so a loud market does not read as a loud
horn. Thresholds come from ``bench/heard.py`` (docs/benchmarks.md#microphone-check).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from operator import mul
from typing import Protocol

from protocol.messages import HeardVerdict

from .features import BANDS, FRAME_S, power_db

HEARD_SCORE = 0.45  # correlation from which the played sound is taken as heard
QUIET_DB = -3.5  # heard this much below the calibrated level: a horn may be dead
FAINT_DB = -15.0  # heard only this far down: not the cluster's own horns (a neighbour's)
WRONG_RISE_DB = 4.0  # no match, but this much louder than before the play: something else
MIN_ACTIVE_FRAMES = 25  # half a second of sound played, at least
UNHEARABLE_SNR_DB = -15.0  # a calibrated horn under this much noise could not be told apart
GAIN_BAND = 2  # levels are read in the first difference's band (features.py)


class Envelopes(Protocol):
    bands: list  # list of per-frame powers, one per band


@dataclass(frozen=True)
class Judgement:
    verdict: HeardVerdict
    score: float | None = None
    gain_db: float | None = None  # heard against played (the calibration's measure)
    level_db: float | None = None  # gain against the calibrated gain
    delay_ms: int | None = None
    snr_db: float | None = None
    detail: str = ""


def _stats(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    var = sum(map(mul, values, values)) / n - mean * mean
    return mean, max(var, 0.0)


def _amplitudes(band: object) -> list[float]:
    return [math.sqrt(v) for v in band]  # type: ignore[attr-defined]


def best_delay(played: Envelopes, heard: Envelopes, lags: range) -> tuple[int, float]:
    """The delay (frames) at which the heard envelope follows the played one best, and the
    mean correlation of the bands' amplitudes there."""
    n = len(played.bands[0])
    best = (lags.start, -1.0)
    ps = []
    for b in range(BANDS):
        p = _amplitudes(played.bands[b])
        mean, var = _stats(p)
        ps.append(([v - mean for v in p], math.sqrt(var * n)))
    hs = [_amplitudes(heard.bands[b]) for b in range(BANDS)]
    prefix = []
    for h in hs:
        s, s2 = [0.0], [0.0]
        for v in h:
            s.append(s[-1] + v)
            s2.append(s2[-1] + v * v)
        prefix.append((s, s2))
    for lag in lags:
        if lag + n > len(hs[0]):
            break
        total = 0.0
        for (pc, pnorm), h, (s, s2) in zip(ps, hs, prefix, strict=False):
            window_sum = s[lag + n] - s[lag]
            var = s2[lag + n] - s2[lag] - window_sum * window_sum / n
            if pnorm <= 0 or var <= 0:
                continue
            total += sum(map(mul, pc, h[lag : lag + n])) / (pnorm * math.sqrt(var))
        score = total / BANDS
        if score > best[1]:
            best = (lag, score)
    return best


def gain_and_noise(played: Envelopes, heard: Envelopes, lag: int) -> tuple[float, float]:
    """Heard power ≈ gain · played power + noise, over the play (least squares), in the
    first difference's band: the horns' own (a horn gives little below 250 Hz, and the
    chime that calibrates has little there either)."""
    p = list(played.bands[GAIN_BAND])
    h = list(heard.bands[GAIN_BAND][lag : lag + len(p)])
    n = min(len(p), len(h))
    p, h = p[:n], h[:n]
    pm, pv = _stats(p)
    hm = sum(h) / n
    cov = sum(map(mul, p, h)) / n - pm * hm
    gain = cov / pv if pv > 0 else 0.0
    return gain, max(hm - gain * pm, 0.0)


def judge(
    played: Envelopes,
    heard: Envelopes,
    *,
    expected_lag: int,
    reference_gain_db: float | None,
    search_before: int = 5,
    search_after: int = 30,
) -> Judgement:
    """The verdict on one play. ``expected_lag``: the frame of the heard envelope at which the
    first played sample left the output (the microphone's own latency and the flight of
    sound come after; ``search_*`` frames around it are tried)."""
    n = len(played.bands[0])
    full = list(played.bands[1])
    peak = max(full, default=0.0)
    active = sum(1 for v in full if v > peak * 1e-4) if peak > 0 else 0
    if active < MIN_ACTIVE_FRAMES:
        return Judgement(HeardVerdict.uncertain, detail="too little sound was played to check")
    if len(heard.bands[0]) < n:
        return Judgement(HeardVerdict.uncertain, detail="the microphone gave less than the play")
    lags = range(max(0, expected_lag - search_before), expected_lag + search_after + 1)
    lag, score = best_delay(played, heard, lags)
    gain, noise = gain_and_noise(played, heard, lag)
    signal = gain * (sum(played.bands[GAIN_BAND]) / n)
    snr = power_db(signal) - power_db(noise) if signal > 0 and noise > 0 else None
    gain_db = power_db(gain) if gain > 0 else None
    level = (
        gain_db - reference_gain_db
        if gain_db is not None and reference_gain_db is not None
        else None
    )
    delay_ms = max(0, round((lag - expected_lag) * FRAME_S * 1000))
    common = {
        "score": round(score, 3),
        "gain_db": None if gain_db is None else round(gain_db, 1),
        "level_db": None if level is None else round(level, 1),
        "delay_ms": delay_ms,
        "snr_db": None if snr is None else round(snr, 1),
    }
    if score >= HEARD_SCORE and gain_db is not None:
        if level is not None and level <= FAINT_DB:
            return Judgement(
                HeardVerdict.not_heard,
                **common,
                detail=f"heard only {-level:.0f} dB below the usual level (another cluster?)",
            )
        if level is not None and level <= QUIET_DB:
            return Judgement(
                HeardVerdict.quiet, **common, detail=f"{-level:.0f} dB below the usual level"
            )
        return Judgement(HeardVerdict.heard, **common)
    # the sound around the play: before its first sample, and after its echoes died away
    band = heard.bands[GAIN_BAND]
    around = list(band[: max(0, expected_lag - 2)]) + list(band[lag + n + 10 :])
    ambient = power_db(sum(around) / len(around)) if around else -math.inf
    during = heard.bands[GAIN_BAND][lag : lag + n]
    loudness = power_db(sum(during) / max(1, len(during)))
    rise = loudness - ambient
    if rise >= WRONG_RISE_DB:
        return Judgement(
            HeardVerdict.wrong,
            **common,
            detail=f"{rise:.0f} dB louder than before the play, but not what was played",
        )
    if reference_gain_db is not None:
        expected = reference_gain_db + power_db(sum(played.bands[GAIN_BAND]) / n)
        if expected - ambient < UNHEARABLE_SNR_DB:
            return Judgement(
                HeardVerdict.uncertain, **common, detail="too much noise to hear the horns"
            )
    return Judgement(HeardVerdict.not_heard, **common, detail="nothing like the play was heard")
