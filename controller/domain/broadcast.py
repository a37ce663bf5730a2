"""A broadcast's life as a state machine: its states and the moves allowed between them.

Held first (draft, waiting for an approver or for a second person), then released
(scheduled → sending → sent → done), or rejected, or cancelled. One held past its start time
(nobody approved it in time) expires; its author or an approver gives it a new time
("hẹn lại"), which holds it again for approval. Services move a broadcast
with a conditional UPDATE from one state to the next, so two workers (or two controllers)
never both send it; ``can_move`` is the rule they follow.
"""

from __future__ import annotations

import enum
from datetime import datetime


class BroadcastState(enum.StrEnum):
    draft = "draft"  # saved by its author, not submitted
    pending_approval = "pending_approval"  # a broadcaster's, until an approver releases it
    pending_confirmation = "pending_confirmation"  # every emergency, until a second person confirms
    rejected = "rejected"
    expired = "expired"  # held past its start time: not approved in time; may be given a new one
    scheduled = "scheduled"  # released; its send job is due at send_at
    sending = "sending"  # claimed by a worker, commands being signed
    sent = "sent"  # handed to the command path
    done = "done"  # play window over; missed devices marked
    cancelled = "cancelled"

    @classmethod
    def held(cls) -> frozenset[BroadcastState]:
        """Waiting for someone: nothing is scheduled or sent."""
        return frozenset({cls.pending_approval, cls.pending_confirmation})

    @classmethod
    def awaiting_play(cls) -> frozenset[BroadcastState]:
        """Released and not over: its play still lies ahead or is under way."""
        return frozenset({cls.scheduled, cls.sending, cls.sent})

    @classmethod
    def awaiting_play_values(cls) -> list[str]:
        return sorted(s.value for s in cls.awaiting_play())

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset({BroadcastState.done, BroadcastState.cancelled, BroadcastState.rejected})

TRANSITIONS: dict[BroadcastState, frozenset[BroadcastState]] = {
    BroadcastState.draft: frozenset(
        {
            BroadcastState.pending_approval,
            BroadcastState.pending_confirmation,
            BroadcastState.scheduled,
            BroadcastState.cancelled,
        }
    ),
    BroadcastState.pending_approval: frozenset(
        {
            BroadcastState.scheduled,
            BroadcastState.rejected,
            BroadcastState.expired,
            BroadcastState.cancelled,
        }
    ),
    BroadcastState.pending_confirmation: frozenset(
        {
            BroadcastState.scheduled,
            BroadcastState.rejected,
            BroadcastState.expired,
            BroadcastState.cancelled,
        }
    ),
    # a new time ("hẹn lại") holds it again, for the same people as before
    BroadcastState.expired: frozenset(
        {
            BroadcastState.pending_approval,
            BroadcastState.pending_confirmation,
            BroadcastState.cancelled,
        }
    ),
    BroadcastState.scheduled: frozenset(
        {BroadcastState.sending, BroadcastState.done, BroadcastState.cancelled}
    ),
    # back to scheduled: a restart caught it between claim and publish; it is sent again
    BroadcastState.sending: frozenset(
        {BroadcastState.sent, BroadcastState.scheduled, BroadcastState.cancelled}
    ),
    BroadcastState.sent: frozenset({BroadcastState.done, BroadcastState.cancelled}),
    BroadcastState.done: frozenset(),
    BroadcastState.cancelled: frozenset(),
    BroadcastState.rejected: frozenset(),
}


def can_move(current: BroadcastState, new: BroadcastState) -> bool:
    """Whether a broadcast in ``current`` may become ``new``."""
    return new in TRANSITIONS[current]


def overdue(
    state: BroadcastState, start_on_release: bool, start_at: datetime, now: datetime
) -> bool:
    """Held past its start: nobody approved it in time, so it expires. One that plays when
    approved ("ngay khi được duyệt") has no start to miss."""
    return state in BroadcastState.held() and not start_on_release and start_at <= now
