"""What is worth telling a person, from plain facts; no I/O. Each notice has a ``key`` naming
its condition (an alarm, a broadcast), so it is told once per channel however often the
rules run."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


class Rule(str, enum.Enum):
    cluster_offline = "cluster_offline"  # the controller's device_offline alarm (10 min)
    speaker_line = "speaker_line"  # a dead speaker line (the agent's alarm)
    emergency_unconfirmed = "emergency_unconfirmed"  # no second person yet
    bulletin_missed = "bulletin_missed"  # a bulletin did not play in a village


class NoticeState(enum.StrEnum):
    sent = "sent"
    failed = "failed"  # tried, will be tried again (``attempts`` < MAX_ATTEMPTS)
    given_up = "given_up"
    suppressed = "suppressed"  # over the channel's hourly limit: recorded, not sent
    shown = "shown"  # the web UI's own channel: listed, nothing to send


MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Notice:
    key: str
    rule: Rule
    params: dict[str, Any] = field(default_factory=dict)
    """What the message names (cluster, village, title, since …), for the text in words."""


@dataclass(frozen=True)
class OpenAlarm:
    id: int
    code: str
    device_id: str
    cluster: str
    villages: Sequence[str]
    raised_at: datetime
    channel: int | None = None


@dataclass(frozen=True)
class HeldEmergency:
    broadcast_id: str
    title: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class MissedBulletin:
    broadcast_id: str
    title: str
    start_at: datetime
    villages: Sequence[str]
    clusters: int


def find(
    alarms: Iterable[OpenAlarm],
    held: Iterable[HeldEmergency],
    missed: Iterable[MissedBulletin],
    now: datetime,
    confirm_wait: timedelta,
) -> list[Notice]:
    """Every notice the facts call for (already-told ones are the caller's to skip)."""
    out: list[Notice] = []
    for a in alarms:
        base = dict(
            cluster=a.cluster,
            device_id=a.device_id,
            villages=", ".join(a.villages),
            since=a.raised_at,
        )
        if a.code == "device_offline":
            out.append(Notice(f"alarm:{a.id}", Rule.cluster_offline, base))
        elif a.code == "speaker_line":
            out.append(
                Notice(f"alarm:{a.id}", Rule.speaker_line, {**base, "line": (a.channel or 0) + 1})
            )
    for h in held:
        if now - h.created_at >= confirm_wait:
            out.append(
                Notice(
                    f"confirm:{h.broadcast_id}",
                    Rule.emergency_unconfirmed,
                    dict(
                        title=h.title,
                        who=h.created_by,
                        since=h.created_at,
                        broadcast_id=h.broadcast_id,
                    ),
                )
            )
    for m in missed:
        out.append(
            Notice(
                f"missed:{m.broadcast_id}",
                Rule.bulletin_missed,
                dict(
                    title=m.title,
                    start=m.start_at,
                    villages=", ".join(m.villages),
                    clusters=m.clusters,
                    broadcast_id=m.broadcast_id,
                ),
            )
        )
    return out


def under_limit(sent_in_last_hour: int, per_hour: int) -> bool:
    """Whether one more may go out on a channel that sent this many in the past hour."""
    return sent_in_last_hour < per_hour
