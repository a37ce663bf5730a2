"""A signed command as the controller keeps it: waiting for the broker, published, expired before
the broker took it, or a retained message (a plan) that is re-asserted rather than queued. Pure."""

from __future__ import annotations

import enum


class CommandState(enum.StrEnum):
    pending = "pending"  # signed and recorded, waiting for the broker
    published = "published"  # the broker acknowledged it (QoS 1)
    expired = "expired"  # its validity ran out before the broker took it
    retained = "retained"  # a retained message (plan), re-asserted rather than queued


TRANSITIONS: dict[CommandState, frozenset[CommandState]] = {
    CommandState.pending: frozenset({CommandState.published, CommandState.expired}),
    CommandState.published: frozenset(),
    CommandState.expired: frozenset(),
    CommandState.retained: frozenset(),
}
