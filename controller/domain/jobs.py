"""A media job's life (an upload processed, a text spoken): queued, running, then done or
failed. Pure."""

from __future__ import annotations

import enum


class MediaJobState(enum.StrEnum):
    queued = "queued"
    running = "running"  # its stage and progress move
    done = "done"  # its bulletin is stored
    failed = "failed"  # refused (a catalogue key says why) or broken

    @classmethod
    def unfinished(cls) -> frozenset[MediaJobState]:
        return frozenset({cls.queued, cls.running})

    @property
    def finished(self) -> bool:
        return self in (MediaJobState.done, MediaJobState.failed)


TRANSITIONS: dict[MediaJobState, frozenset[MediaJobState]] = {
    MediaJobState.queued: frozenset({MediaJobState.running, MediaJobState.failed}),
    MediaJobState.running: frozenset(
        {MediaJobState.running, MediaJobState.done, MediaJobState.failed}
    ),
    MediaJobState.done: frozenset(),
    MediaJobState.failed: frozenset(),
}


def can_move(current: MediaJobState, new: MediaJobState) -> bool:
    return new in TRANSITIONS[current]
