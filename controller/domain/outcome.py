"""What a listener would say happened on one loudspeaker, from its delivery: played, played
with a fault on a speaker line, interrupted (by what), missed or failed (why), or still on
its way — and the reason as a message key with its values, so every face says it in words.

Pure: no I/O. The reasons are the stable strings ``fleet/ingest.py`` and ``services/
broadcasts.py`` write into ``deliveries.reason``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


class Outcome(str, enum.Enum):
    played = "played"
    fault = "fault"  # played, but a powered speaker line carried (almost) no current
    interrupted = "interrupted"
    missed = "missed"
    failed = "failed"
    cancelled = "cancelled"  # withdrawn or rejected before it played: nobody missed it
    waiting = "waiting"  # not over yet: sent, acknowledged, downloading, playing


OUTCOME_ORDER = (
    Outcome.played,
    Outcome.fault,
    Outcome.interrupted,
    Outcome.missed,
    Outcome.failed,
    Outcome.cancelled,
    Outcome.waiting,
)
"""How a summary lists them (and the legend)."""

RESENDABLE = frozenset({Outcome.missed, Outcome.failed, Outcome.interrupted})
"""Loudspeakers a follow-up broadcast should reach again."""


@dataclass(frozen=True)
class Reason:
    key: str
    params: Mapping[str, Any]


def outcome(state: str, line_check: Mapping[str, Any] | None = None) -> Outcome:
    """One delivery's outcome (its state, and the line check of a finished play)."""
    if state == "played":
        dead = (line_check or {}).get("dead_channels") or []
        return Outcome.fault if dead else Outcome.played
    if state in ("interrupted", "missed", "failed", "cancelled"):
        return Outcome(state)
    return Outcome.waiting


def play_outcome(event_type: str, payload: Mapping[str, Any]) -> Outcome:
    """A device's own playback report in the same words (its proof-of-play log)."""
    if event_type != "playback.finished":
        return Outcome.failed
    if payload.get("interrupted"):
        return Outcome.interrupted
    return outcome("played", payload.get("line_check"))


def dead_lines(line_check: Mapping[str, Any] | None) -> list[int]:
    """Speaker lines (numbered from 1, as on the cabinet) that carried no current."""
    return [int(ch) + 1 for ch in (line_check or {}).get("dead_channels") or []]


def summarise(outcomes: Iterable[Outcome]) -> dict[str, int]:
    counts = {o.value: 0 for o in OUTCOME_ORDER}
    for o in outcomes:
        counts[o.value] += 1
    return counts


_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^no start reported in the play window"), "reason.no_start"),
    (re.compile(r"^device offline since (?P<since>\S+)$"), "reason.offline"),
    (re.compile(r"^device never connected$"), "reason.never_connected"),
    (re.compile(r"^controller was down or unreachable at send time"), "reason.controller_down"),
    (re.compile(r"^command expired before the device received it"), "reason.expired"),
    (re.compile(r"^interrupted by stop: ?(?P<who>.*)$"), "reason.stop"),
    (re.compile(r"^interrupted by stop$"), "reason.stop"),
    (
        re.compile(
            r"^interrupted by (?P<priority>emergency|live|priority|normal|background):"
            r"(?P<play>.+)$"
        ),
        "reason.preempted",
    ),
    (re.compile(r"^interrupted by (?P<what>cancel|plan|shutdown)$"), "reason.by_{what}"),
    (
        re.compile(
            r"^resumed after (?P<priority>emergency|live|priority|normal|background):"
            r"(?P<play>.+)$"
        ),
        "reason.resumed",
    ),
    (re.compile(r"^refused: (?P<code>[a-z_]+)$"), "reason.refused_{code}"),
    (re.compile(r"^rejected: (?P<text>.*)$"), "reason.rejected"),
    (re.compile(r"^not approved before its start$"), "reason.not_approved"),
    (
        re.compile(
            r"^(?P<code>too_late|output_busy|output_error|decode_failed|agent_error|"
            r"agent_restarted|cancelled|disk_full|media_unavailable|household_off)"
            r"(: (?P<detail>.*))?$"
        ),
        "reason.{code}",
    ),
]

KNOWN_REFUSALS = frozenset(
    {
        "disk_full",
        "storage_error",
        "bad_signature",
        "unknown_key",
        "expired",
        "malformed",
        "wrong_target",
        "not_yet_valid",
        "media_hash_mismatch",
        "wrong_topic",
        "unsigned",
    }
)


def reason_of(reason: str | None) -> Reason | None:
    """The message key and values for a stored reason (``reason.other`` with the text as it
    is when it is not one of ours)."""
    if not reason:
        return None
    for pattern, key in _PATTERNS:
        match = pattern.match(reason)
        if match is None:
            continue
        params = {k: v or "" for k, v in match.groupdict().items()}
        if (
            "{code}" in key
            and key.startswith("reason.refused_")
            and params.get("code") not in KNOWN_REFUSALS
        ):
            return Reason("reason.refused", {"code": params.get("code", "")})
        return Reason(key.format(**params), params)
    return Reason("reason.other", {"text": reason})
