"""Placing the first sample and keeping a sound card on the timeline (outputs/timeline.py).

A model device stands in for the sound card: its crystal runs fast or slow, its delay
readings jitter, it can run dry or see the clock step. The guard is judged by the true
error (when the next sample is heard against when it should be) over a 60-minute bulletin.
"""

from __future__ import annotations

import random

import pytest

from edge_agent.outputs.timeline import JUMP_S, DriftGuard, heard_at, lead_in_frames

RATE = 48000
WRITE_S = 0.1  # the player writes 100 ms at a time


def test_the_lead_in_puts_the_first_sample_at_the_start():
    # 300 ms before the start, the card holds 100 ms: 200 ms of silence to write
    assert lead_in_frames(start=10.3, now=10.0, delay_frames=4800, rate=RATE) == 9600
    assert heard_at(10.0, 4800 + 9600, RATE) == pytest.approx(10.3)
    # already 50 ms late once what the card holds has played: negative, nothing to add
    assert lead_in_frames(start=10.0, now=9.95, delay_frames=4800, rate=RATE) == -2400


def _run(drift_ppm: float, minutes: int, jitter_s: float, events=None):  # type: ignore[no-untyped-def]
    """Simulate ``minutes`` of 100 ms writes; returns (guard, worst true error after the
    first minute, the true error at the end)."""
    rng = random.Random(7)
    guard = DriftGuard(RATE)
    error = 0.0  # heard − ideal for the next sample, the truth the device never shows
    worst = 0.0
    writes = int(minutes * 60 / WRITE_S)
    for n in range(writes):
        if events and n in events:
            error += events[n]
        step = guard.step(error + rng.uniform(-jitter_s, jitter_s))
        error += step / RATE  # inserting holds what follows back, dropping brings it on
        error -= WRITE_S * drift_ppm / 1e6  # a fast crystal plays the next write early
        if n > 600:
            worst = max(worst, abs(error))
    return guard, worst, error


@pytest.mark.parametrize("drift_ppm", [-300, -50, 50, 300])
def test_a_crystal_that_runs_fast_or_slow_stays_on_the_timeline_for_an_hour(drift_ppm: float):
    guard, worst, end = _run(drift_ppm, 60, jitter_s=0.003)
    uncorrected = abs(drift_ppm) / 1e6 * 3600
    assert uncorrected >= 0.18  # 50 ppm alone would be 180 ms apart after an hour
    assert worst < 0.006, f"{worst * 1000:.1f} ms off the timeline"
    assert guard.stats.rejoins == 0  # drift is corrected sample by sample, never by a jump
    corrected = (guard.stats.inserted_frames - guard.stats.dropped_frames) / RATE
    assert corrected == pytest.approx(drift_ppm / 1e6 * 3600, abs=0.01)  # fast: inserted


def test_an_accurate_card_with_jittery_readings_is_left_alone():
    guard, worst, _ = _run(0, 10, jitter_s=0.0015)
    assert guard.stats.inserted_frames + guard.stats.dropped_frames < 200
    assert worst < 0.003


def test_an_underrun_or_a_clock_step_rejoins_the_timeline_at_once():
    # 400 ms late after the card ran dry at minute 1, then the clock steps 80 ms back
    guard, worst, end = _run(20, 3, jitter_s=0.002, events={600: 0.4, 1200: -0.08})
    assert guard.stats.rejoins == 2
    assert guard.stats.max_error_s >= 0.4 - 0.003
    assert abs(end) < 0.004


def test_an_error_just_under_the_jump_is_corrected_gently_not_in_one_step():
    guard = DriftGuard(RATE)
    steps = [guard.step(JUMP_S * 0.9) for _ in range(12)]
    assert guard.stats.rejoins == 0
    assert all(-8 <= s <= 0 for s in steps)
    assert sum(steps) < 0


def test_a_device_that_does_not_keep_time_is_not_fed_silence_forever():
    # ALSA's "null" device takes everything at once: the timeline runs ever further behind
    guard = DriftGuard(RATE)
    steps = [guard.step(-0.1 * n) for n in range(1, 200)]
    assert sum(s for s in steps if s > 0) / RATE <= 2.0
    assert guard.stats.unpaced
