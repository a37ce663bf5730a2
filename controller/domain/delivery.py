"""Per-device delivery state machine of a broadcast, as pure functions.

Reports arrive late, twice or out of order (an agent's outbox flushes after a reconnect), so
a state only moves forward: ``advance`` never lets a later-arriving "acked" undo "played".
"""

from __future__ import annotations

import enum


class DeliveryState(enum.StrEnum):
    pending = "pending"  # broadcast not sent yet
    sent = "sent"  # command published; device has not answered
    acked = "acked"  # agent verified and accepted the command
    media_ready = "media_ready"  # audio downloaded and checked
    playing = "playing"
    played = "played"
    interrupted = "interrupted"  # started, then preempted or stopped
    failed = "failed"  # refused or could not play; see reason
    missed = "missed"  # play window passed with no start reported
    cancelled = "cancelled"


_RANK = {
    DeliveryState.pending: 0,
    DeliveryState.sent: 1,
    DeliveryState.acked: 2,
    DeliveryState.media_ready: 3,
    DeliveryState.playing: 4,
    # terminal states
    DeliveryState.cancelled: 5,
    DeliveryState.missed: 6,
    DeliveryState.failed: 7,
    DeliveryState.interrupted: 8,
    DeliveryState.played: 9,
}

TERMINAL = frozenset(
    {
        DeliveryState.played,
        DeliveryState.interrupted,
        DeliveryState.failed,
        DeliveryState.missed,
        DeliveryState.cancelled,
    }
)


def advance(current: DeliveryState, incoming: DeliveryState) -> DeliveryState:
    """State after ``incoming`` is reported while in ``current``.

    Forward moves always apply. Among terminal states, evidence of playing wins: a device
    marked "missed" whose outbox later proves it played becomes "played".
    """
    if _RANK[incoming] > _RANK[current]:
        return incoming
    return current


def summarise(states: list[DeliveryState]) -> dict[str, int]:
    """Count of devices per state, every state present (zeros included) for stable output."""
    counts = {s.value: 0 for s in DeliveryState}
    for state in states:
        counts[state.value] += 1
    return counts
