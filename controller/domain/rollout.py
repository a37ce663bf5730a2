"""Rollouts of an agent release in waves: one device first, then a tenth of the fleet, then the
rest; a wave starts only when the one before is all updated, and a failure stops the rollout.

Pure: no I/O. ``services/updates.py`` stores the states and sends the commands.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence


class RolloutState(enum.StrEnum):
    running = "running"
    stopped = "stopped"  # a device failed (or a person stopped it): nothing more is sent
    finished = "finished"  # every wave done
    cancelled = "cancelled"  # given up for good


ROLLOUT_TRANSITIONS: dict[RolloutState, frozenset[RolloutState]] = {
    RolloutState.running: frozenset(
        {RolloutState.stopped, RolloutState.finished, RolloutState.cancelled}
    ),
    RolloutState.stopped: frozenset({RolloutState.running, RolloutState.cancelled}),
    RolloutState.finished: frozenset(),
    RolloutState.cancelled: frozenset(),
}


class TargetState(enum.StrEnum):
    waiting = "waiting"  # its wave has not reached it, or it is offline
    sent = "sent"  # the signed update command went out
    installed = "installed"  # it runs the release, online and checked
    skipped = "skipped"  # an agent too old to update itself (install.sh again)
    refused = "refused"  # it did not switch (download, hash, install, check)
    rolled_back = "rolled_back"  # it switched, failed, and went back on its own
    timed_out = "timed_out"  # no outcome within the wave's time

    @property
    def failed(self) -> bool:
        return self in FAILED

    @property
    def done(self) -> bool:
        return self in (TargetState.installed, TargetState.skipped)


FAILED = frozenset({TargetState.refused, TargetState.rolled_back, TargetState.timed_out})

TARGET_TRANSITIONS: dict[TargetState, frozenset[TargetState]] = {
    TargetState.waiting: frozenset(
        {TargetState.sent, TargetState.skipped, TargetState.installed, TargetState.timed_out}
    ),
    TargetState.sent: frozenset(
        {TargetState.installed, TargetState.refused, TargetState.rolled_back, TargetState.timed_out}
    ),
    TargetState.installed: frozenset(),
    TargetState.skipped: frozenset(),
    # resuming a stopped rollout tries its failed devices again
    TargetState.refused: frozenset({TargetState.waiting}),
    TargetState.rolled_back: frozenset({TargetState.waiting}),
    TargetState.timed_out: frozenset({TargetState.waiting}),
}


def can_move(old: TargetState, new: TargetState) -> bool:
    return new in TARGET_TRANSITIONS[old]


WAVE_PLAN: tuple[float, ...] = (1, 0.10, 1.0)
"""Cumulative share of the devices each wave has reached: a number ≥ 1 is a count (the first
device), a fraction a share of all of them."""


def wave_sizes(count: int, plan: Sequence[float] = WAVE_PLAN) -> list[int]:
    """How many devices each wave holds; empty waves are left out (3 devices: 1, 2)."""
    sizes: list[int] = []
    reached = 0
    for step in plan:
        upto = int(step) if step >= 1 else math.ceil(step * count)
        upto = min(count, max(upto, reached))
        if upto > reached:
            sizes.append(upto - reached)
            reached = upto
    if reached < count:
        sizes.append(count - reached)
    return sizes


def assign_waves(device_ids: Sequence[str], plan: Sequence[float] = WAVE_PLAN) -> dict[str, int]:
    """Each device's wave, in the order given (the caller puts online devices first, so the
    first wave is a device that can answer now)."""
    waves: dict[str, int] = {}
    start = 0
    for wave, size in enumerate(wave_sizes(len(device_ids), plan)):
        for device_id in device_ids[start : start + size]:
            waves[device_id] = wave
        start += size
    return waves


class WaveOutcome(str, enum.Enum):
    under_way = "under_way"
    done = "done"
    failed = "failed"


def wave_outcome(states: Iterable[TargetState]) -> WaveOutcome:
    """A wave fails at its first failed device; it is done when every device is."""
    states = list(states)
    if any(s.failed for s in states):
        return WaveOutcome.failed
    if all(s.done for s in states):
        return WaveOutcome.done
    return WaveOutcome.under_way
