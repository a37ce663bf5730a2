"""Pure logic: delivery state machine and broadcast timing."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.domain.delivery import TERMINAL, DeliveryState, advance
from controller.domain.timing import TimingError, plan_timing

states = st.sampled_from(list(DeliveryState))


@given(st.lists(states, max_size=20), st.randoms())
def test_reports_in_any_order_end_in_the_same_state(reports, rnd):
    shuffled = list(reports)
    rnd.shuffle(shuffled)
    a = b = DeliveryState.pending
    for s in reports:
        a = advance(a, s)
    for s in shuffled:
        b = advance(b, s)
    assert a == b
    # and it is one of the reported states, which no report can move any further
    assert a in (reports or [DeliveryState.pending])
    assert all(advance(a, s) == a for s in reports)


def test_late_ack_does_not_undo_played_and_proof_of_play_beats_missed():
    assert advance(DeliveryState.played, DeliveryState.acked) == DeliveryState.played
    assert advance(DeliveryState.missed, DeliveryState.played) == DeliveryState.played
    assert advance(DeliveryState.playing, DeliveryState.missed) == DeliveryState.missed
    assert DeliveryState.playing not in TERMINAL


NOW = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)
LEADS = dict(
    sync_lead=timedelta(seconds=4),
    prefetch_lead=timedelta(seconds=90),
    max_late=timedelta(seconds=120),
)


def test_now_starts_after_the_sync_lead():
    t = plan_timing(now=NOW, requested_start=None, **LEADS)
    assert t.send_at == NOW
    assert t.start_at == NOW + timedelta(seconds=4)
    assert t.not_after == t.start_at + timedelta(seconds=120)


def test_later_is_sent_ahead_for_prefetch():
    start = NOW + timedelta(hours=1)
    t = plan_timing(now=NOW, requested_start=start, **LEADS)
    assert t.start_at == start
    assert t.send_at == start - timedelta(seconds=90)


def test_soon_is_sent_now_and_never_earlier_than_the_sync_lead():
    t = plan_timing(now=NOW, requested_start=NOW + timedelta(seconds=1), **LEADS)
    assert t.send_at == NOW
    assert t.start_at == NOW + timedelta(seconds=4)


def test_past_start_is_an_error():
    with pytest.raises(TimingError):
        plan_timing(now=NOW, requested_start=NOW - timedelta(minutes=1), **LEADS)


def test_broadcast_states_move_only_forward_and_final_states_stay():
    from controller.domain.broadcast import TRANSITIONS, can_move
    from controller.domain.broadcast import BroadcastState as S

    assert set(TRANSITIONS) == set(S)
    for final in (S.done, S.cancelled, S.rejected):
        assert final.is_final
        assert not any(can_move(final, s) for s in S)
    # held: only released, rejected, expired (not approved before its start) or cancelled;
    # never sent straight away
    for held in S.held():
        assert {s for s in S if can_move(held, s)} == {
            S.scheduled,
            S.rejected,
            S.expired,
            S.cancelled,
        }
    # expired: a new time holds it again (never released without an approver), or cancelled
    assert {s for s in S if can_move(S.expired, s)} == {*S.held(), S.cancelled}
    assert not S.expired.is_final
    assert not can_move(S.draft, S.sent)
    assert not can_move(S.scheduled, S.sent)
    assert can_move(S.sending, S.scheduled)  # a restart caught between claim and hand-over
    assert not can_move(S.sent, S.scheduled)  # but what was handed over is never sent again


def test_every_state_a_row_can_take_fits_its_column():
    """PostgreSQL refuses a value longer than its column (SQLite does not check): every
    emergency once failed there, 'pending_confirmation' in a column of 16."""
    from controller.db.models import Alarm, Broadcast, Command, Delivery, Device
    from controller.domain.broadcast import BroadcastState
    from controller.domain.delivery import DeliveryState
    from controller.fleet.commands import CommandState
    from protocol.messages import AlarmCode, DeviceState, Priority

    columns = [
        (Broadcast.state, BroadcastState),
        (Delivery.state, DeliveryState),
        (Command.state, CommandState),
        (Device.status, DeviceState),
        (Broadcast.priority, Priority),
        (Alarm.code, AlarmCode),
    ]
    for column, states in columns:
        width = column.property.columns[0].type.length
        too_long = [s.value for s in states if len(s.value) > width]
        assert too_long == [], f"{column} ({width}) cannot hold {too_long}"


def test_only_a_held_bulletin_with_a_start_time_expires_at_that_time():
    from datetime import UTC, datetime, timedelta

    from controller.domain.broadcast import BroadcastState as S
    from controller.domain.broadcast import overdue

    start = datetime(2026, 12, 6, 7, 0, tzinfo=UTC)
    after, before = start + timedelta(seconds=1), start - timedelta(seconds=1)
    assert overdue(S.pending_approval, False, start, after)
    assert overdue(S.pending_confirmation, False, start, start)
    assert not overdue(S.pending_approval, False, start, before)
    assert not overdue(S.pending_approval, True, start, after)  # plays when approved
    for state in (S.draft, S.scheduled, S.sent, S.rejected, S.expired):
        assert not overdue(state, False, start, after)
