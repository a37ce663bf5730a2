"""An SMS order as the controller keeps it, per cluster: being sent, sent (again after a
while if nothing is heard), failed to send, then what the cluster reported once its data link
was back — received, played, refused. Pure."""

from __future__ import annotations

import enum


class SmsState(enum.StrEnum):
    sending = "sending"  # signed and recorded, handed to a modem or gateway
    sent = "sent"  # a modem or gateway took it (no word from the cluster yet)
    failed = "failed"  # no channel took it (detail says why)
    received = "received"  # the cluster obeyed it (reported when its link came back)
    played = "played"  # the cluster started the pinned message
    refused = "refused"  # the cluster refused it (detail: the reason code)


TRANSITIONS: dict[SmsState, frozenset[SmsState]] = {
    SmsState.sending: frozenset(
        {SmsState.sent, SmsState.failed, SmsState.received, SmsState.played, SmsState.refused}
    ),
    SmsState.sent: frozenset({SmsState.received, SmsState.played, SmsState.refused}),
    SmsState.failed: frozenset({SmsState.sent, SmsState.received, SmsState.played}),
    SmsState.received: frozenset({SmsState.played}),
    SmsState.played: frozenset(),
    SmsState.refused: frozenset(),
}

HEARD = frozenset({SmsState.received, SmsState.played, SmsState.refused})
"""The cluster has spoken of it: nothing more to send."""


def advance(current: SmsState, incoming: SmsState) -> SmsState:
    """The state after ``incoming``: a move the table allows, else unchanged (a late
    "received" after "played" changes nothing)."""
    return incoming if incoming in TRANSITIONS[current] else current


class Reach(enum.StrEnum):
    """How an emergency reached a cluster, for the storm view: over its data link, by SMS
    (the cluster said so), by an SMS sent that it has not spoken of yet, or not at all."""

    mqtt = "mqtt"
    sms = "sms"
    sms_sent = "sms_sent"
    none = "none"


def reach(started: bool, orders: list[SmsState]) -> Reach:
    """A cluster's reach from whether it reported the play's start and its SMS orders."""
    if started:
        return Reach.mqtt
    if any(s in (SmsState.received, SmsState.played) for s in orders):
        return Reach.sms
    if any(s in (SmsState.sent, SmsState.sending) for s in orders):
        return Reach.sms_sent
    return Reach.none
