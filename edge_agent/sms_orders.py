"""SMS orders obeyed: each text from the modem checked (``protocol/sms.py``: signature,
target, sequence, validity), its number kept on disk, then acted on — a pinned message
played as an emergency, STOP, or the board's FM tuner relaying a frequency until the order's
window closes — and every outcome reported through the outbox, which the link empties when
it is back. The same SMS delivered twice plays once."""

from __future__ import annotations

import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from datetime import timedelta

from protocol.envelope import Rejected
from protocol.keys import PublicKey
from protocol.messages import PlayCommand, Priority, SmsEvent, SmsOutcome, StreamRef, utcnow
from protocol.sms import SmsAction, SmsOrder, play_id, read_sms
from protocol.urls import fm_khz

from .modem import ReceivedSms
from .pinned import PinnedMessages
from .player import Player
from .state import AgentState

log = logging.getLogger(__name__)

MAX_RELAY_S = 6 * 3600
ACTION_NAMES = {SmsAction.play: "play", SmsAction.stop: "stop", SmsAction.fm: "fm"}


class SmsOrders:
    def __init__(
        self,
        device_id: str,
        state: AgentState,
        keys: Callable[[], Mapping[str, PublicKey]],
        pinned: PinnedMessages,
        player: Player,
        report: Callable[[SmsEvent], None],
        fm_tuner: bool = False,
    ):
        self.device_id = device_id
        self._state = state
        self._keys = keys
        self._pinned = pinned
        self._player = player
        self._report = report
        self._fm_tuner = fm_tuner  # the cluster's board has one (an FM order can be obeyed)
        self._lock = threading.Lock()
        # texts obeyed lately: a copy of any of them (the network's, or the sender's resend
        # arriving after a newer order) is a duplicate, not a replay to report
        self._obeyed: deque[str] = deque(maxlen=64)
        self.duplicates = 0

    def on_sms(self, sms: ReceivedSms) -> None:
        with self._lock:
            self._handle(sms)

    def _handle(self, sms: ReceivedSms) -> None:
        text = sms.text.strip()
        try:
            order = read_sms(
                text,
                keys=self._keys(),
                device_id=self.device_id,
                zones=set(self._state.zones),
                last_seq=self._state.sms_seq,
                now=utcnow(),
            )
        except Rejected as rej:
            if rej.reason == "replayed" and text in self._obeyed:
                self.duplicates += 1  # the sender's retry, or the network's: played once
                log.info("SMS order delivered again: ignored")
                return
            log.warning("SMS order from %s refused: %s", sms.sender, rej)
            self._said(sms, SmsOutcome.refused, None, rej.reason)
            return
        if order.action is SmsAction.play and self._pinned.find(order.message) is None:
            self._said(sms, SmsOutcome.refused, order, "not_pinned")
            return
        if order.action is SmsAction.fm and (
            not self._fm_tuner or fm_khz(fm_url_of(order)) is None
        ):
            self._said(sms, SmsOutcome.refused, order, "fm_unsupported")
            return
        try:
            self._state.accept_sms(order.seq)
        except OSError as exc:  # its number cannot be kept: not obeyed
            self._said(sms, SmsOutcome.refused, order, "storage_error")
            log.error("SMS order %d not obeyed: state not writable (%s)", order.seq, exc)
            return
        self._obeyed.append(text)
        play = None if order.action is SmsAction.stop else play_id(order.seq)
        self._said(sms, SmsOutcome.accepted, order, "", play)
        if order.action is SmsAction.stop:
            self._player.stop_now("stop: SMS")
        elif order.action is SmsAction.fm:
            self._relay_fm(order, play or "")
        else:
            self._play(order, play or "")

    def _play(self, order: SmsOrder, play: str) -> None:
        message = self._pinned.find(order.message)
        assert message is not None  # (checked before its number was kept)
        now = utcnow()
        self._player.schedule(
            PlayCommand(
                play_id=play,
                broadcast_id=play,
                start_at=now,
                title=message.title,
                priority=Priority.emergency,
                media=message.media,
                receiver_floor=self._pinned.receiver_floor,
            ),
            max(order.valid_until, now + timedelta(minutes=1)),
        )

    def _said(
        self,
        sms: ReceivedSms,
        outcome: SmsOutcome,
        order: SmsOrder | None,
        reason: str,
        play_id: str | None = None,
    ) -> None:
        self._report(
            SmsEvent(
                event_id=uuid.uuid4().hex,
                device_id=self.device_id,
                ts=utcnow(),
                outcome=outcome,
                received_at=sms.received_at,
                seq=order.seq if order else None,
                action=ACTION_NAMES[order.action] if order else None,
                message=order.message[:20] if order else None,
                reason=reason,
                sender=sms.sender,
                play_id=play_id,
            )
        )

    def _relay_fm(self, order: SmsOrder, play: str) -> None:
        """The tuner on the order's frequency, amplifiers on, until its window closes (at most
        the six hours a relay may last), as an emergency: what the province's radio or VOV
        carries about the storm, with no data link."""
        now = utcnow()
        seconds = int(min((order.valid_until - now).total_seconds(), MAX_RELAY_S))
        if seconds < 1:
            return
        url = fm_url_of(order)
        self._player.schedule(
            PlayCommand(
                play_id=play,
                broadcast_id=play,
                start_at=now,
                title=f"FM {int(order.message) / 1000:.1f} MHz",
                priority=Priority.emergency,
                stream=StreamRef(url=url, duration_s=seconds),
            ),
            order.valid_until,
        )


def fm_url_of(order: SmsOrder) -> str:
    """An FM order's frequency (kHz in the message field) as the relay's ``fm:`` URL."""
    return f"fm:{order.message}"
