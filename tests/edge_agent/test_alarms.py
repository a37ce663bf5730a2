"""Alarm conditions from readings and their raise/clear transitions (pure logic)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edge_agent.alarms import AlarmTracker, Thresholds, board_conditions, line_conditions
from protocol.messages import HardwareReadings

T = Thresholds()


def readings(**kw) -> HardwareReadings:
    base = dict(
        backend="mcu",
        connected=True,
        mains=True,
        battery_v=13.2,
        temperature_c=31.0,
        door_open=False,
        amplifiers=[False, False],
        line_ma=[0, 0],
    )
    base.update(kw)
    return HardwareReadings(**base)


def keys(conditions) -> set[str]:
    return {c.key for c in conditions}


def test_a_healthy_board_has_no_conditions_and_judges_every_board_alarm():
    found, judged = board_conditions(readings(), T, set())
    assert found == []
    assert judged == {
        "mcu_unreachable",
        "mains_lost",
        "battery_low",
        "door_open",
        "over_temperature",
    }


def test_each_fault_becomes_its_condition():
    found, _ = board_conditions(
        readings(mains=False, battery_v=11.2, door_open=True, temperature_c=70.0), T, set()
    )
    assert keys(found) == {"mains_lost", "battery_low", "door_open", "over_temperature"}


def test_an_unreachable_board_judges_nothing_else():
    found, judged = board_conditions(HardwareReadings(backend="mcu", connected=False), T, set())
    assert keys(found) == {"mcu_unreachable"}
    assert judged == {"mcu_unreachable"}


def test_temperature_clears_only_once_clearly_cooler():
    assert keys(board_conditions(readings(temperature_c=62.0), T, set())[0]) == set()
    assert keys(board_conditions(readings(temperature_c=62.0), T, {"over_temperature"})[0]) == {
        "over_temperature"
    }
    assert keys(board_conditions(readings(temperature_c=59.0), T, {"over_temperature"})[0]) == set()


def test_lines_are_judged_only_where_the_amplifier_is_powered():
    found, judged = line_conditions([180, 3], [True, True], T)
    assert keys(found) == {"speaker_line:1"}
    assert judged == {"speaker_line:0", "speaker_line:1"}
    found, judged = line_conditions([0, 0], [False, False], T)
    assert found == []
    assert judged == set()


def test_tracker_raises_once_and_clears_only_what_a_reading_judged():
    tracker = AlarmTracker()
    raised, cleared = tracker.update(*line_conditions([180, 0], [True, True], T))
    assert keys(raised) == {"speaker_line:1"}
    assert cleared == []
    raised, cleared = tracker.update(*line_conditions([180, 0], [True, True], T))
    assert raised == []
    assert cleared == []
    raised, cleared = tracker.update(*board_conditions(readings(), T, set()))
    assert raised == []
    assert cleared == []
    raised, cleared = tracker.update(*line_conditions([180, 175], [True, True], T))
    assert raised == []
    assert keys(cleared) == {"speaker_line:1"}


@given(
    st.lists(
        st.tuples(st.booleans(), st.booleans(), st.floats(10, 14), st.floats(20, 90)), max_size=30
    )
)
def test_tracker_events_alternate_per_alarm(seq):
    """Whatever the readings, each alarm goes raised, cleared, raised, ... never twice in a row."""
    tracker = AlarmTracker()
    last: dict[str, bool] = {}
    for mains, door, battery, temp in seq:
        found, judged = board_conditions(
            readings(mains=mains, door_open=door, battery_v=battery, temperature_c=temp),
            T,
            set(tracker.active),
        )
        raised, cleared = tracker.update(found, judged)
        for c, active in [*((c, True) for c in raised), *((c, False) for c in cleared)]:
            assert last.get(c.key, False) != active
            last[c.key] = active
        assert {k for k, v in last.items() if v} == set(tracker.active)
