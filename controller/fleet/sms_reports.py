"""What clusters report of SMS orders, applied to the record: received (obeyed), refused
(a forged, replayed or misdirected SMS is a security matter), played (its ``sms-<seq>`` play
started)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from protocol.messages import SmsEvent, SmsOutcome
from protocol.sms import seq_of_play

from ..db.storm import SmsOrder
from ..domain.sms import SmsState, advance
from .security import security_alarm

log = logging.getLogger(__name__)

SECURITY_REASONS = frozenset({"malformed", "bad_signature", "wrong_target", "replayed"})
"""Refusals that say someone sent an SMS the station did not (or sent one again)."""


def apply_sms_event(session: Session, device_id: str, event: SmsEvent, now: datetime) -> None:
    if event.outcome is SmsOutcome.refused and event.reason in SECURITY_REASONS:
        log.warning("SMS refused by %s: %s (from %s)", device_id, event.reason, event.sender or "?")
        security_alarm(
            session, device_id, f"sms {event.reason} from {event.sender or '?'}"[:300], now
        )
    if event.seq is None:
        return
    row = session.get(SmsOrder, event.seq)
    if row is None or row.device_id != device_id:
        return  # not one the station sent this cluster (the alarm above said so if forged)
    row.reported_at = row.reported_at or event.ts
    if event.outcome is SmsOutcome.accepted:
        row.state = advance(row.state, SmsState.received)
    else:
        row.state = advance(row.state, SmsState.refused)
        row.detail = event.reason[:300]


def apply_sms_play(session: Session, device_id: str, play_id: str, started: datetime) -> None:
    """A play ``sms-<seq>`` began on the cluster."""
    seq = seq_of_play(play_id)
    if seq is None:
        return
    row = session.get(SmsOrder, seq)
    if row is None or row.device_id != device_id:
        return
    row.played_at = row.played_at or started
    row.state = advance(row.state, SmsState.played)
