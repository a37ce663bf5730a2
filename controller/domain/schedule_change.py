"""A schedule edit waiting for an approver: pending, then approved (applied) or rejected. Pure."""

from __future__ import annotations

import enum


class ScheduleChangeState(enum.StrEnum):
    pending = "pending"
    approved = "approved"  # applied to the stored set
    rejected = "rejected"

    @property
    def decided(self) -> bool:
        return self is not ScheduleChangeState.pending


TRANSITIONS: dict[ScheduleChangeState, frozenset[ScheduleChangeState]] = {
    ScheduleChangeState.pending: frozenset(
        {ScheduleChangeState.approved, ScheduleChangeState.rejected}
    ),
    ScheduleChangeState.approved: frozenset(),
    ScheduleChangeState.rejected: frozenset(),
}
