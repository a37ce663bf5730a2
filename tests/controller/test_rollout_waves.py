"""Rollout waves (pure): one device first, then a tenth, then the rest; a failure stops."""

from __future__ import annotations

import pytest

from controller.domain.rollout import (
    FAILED,
    TARGET_TRANSITIONS,
    TargetState,
    WaveOutcome,
    assign_waves,
    wave_outcome,
    wave_sizes,
)


@pytest.mark.parametrize(
    ("count", "sizes"),
    [
        (0, []),
        (1, [1]),
        (2, [1, 1]),
        (3, [1, 2]),
        (10, [1, 9]),
        (11, [1, 1, 9]),
        (100, [1, 9, 90]),
        (5000, [1, 499, 4500]),
    ],
)
def test_wave_sizes(count: int, sizes: list[int]) -> None:
    assert wave_sizes(count) == sizes
    assert sum(sizes) == count


def test_devices_keep_their_order_across_waves() -> None:
    ids = [f"loa-{i:03d}" for i in range(25)]
    waves = assign_waves(ids)
    assert [waves[i] for i in ids] == [0] + [1] * 2 + [2] * 22
    assert list(waves) == ids


def test_a_wave_fails_at_its_first_failure_and_is_done_when_all_are() -> None:
    S = TargetState
    assert wave_outcome([S.installed, S.skipped]) is WaveOutcome.done
    assert wave_outcome([S.installed, S.sent]) is WaveOutcome.under_way
    assert wave_outcome([S.waiting, S.rolled_back]) is WaveOutcome.failed
    assert wave_outcome([S.timed_out]) is WaveOutcome.failed
    assert wave_outcome([]) is WaveOutcome.done


def test_only_failures_go_back_to_waiting_and_final_states_stay() -> None:
    for state, nexts in TARGET_TRANSITIONS.items():
        if TargetState.waiting in nexts:
            assert state in FAILED
        if state.done:
            assert not nexts
