"""Schedules: recurrence in local time, exceptions, validity, quiet hours, conflicts."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from controller.schedules.checks import check, preview
from controller.schedules.model import QuietHours, ScheduleSet, ScheduleSpec
from controller.schedules.recurrence import expand, expand_all
from controller.schedules.targets import Fleet

SHA_A, SHA_B = "a" * 64, "b" * 64
MEDIA = {SHA_A: 10 * 60_000, SHA_B: 30_000}
NOW = datetime(2026, 11, 22, 0, 0, tzinfo=timezone.utc)  # 07:00 in Hà Nội
FLEET = Fleet({"thon-dong": frozenset({"loa-1", "loa-2"}), "thon-tay": frozenset({"loa-3"})})


def spec(**over) -> ScheduleSpec:
    fields = dict(
        name="sang",
        targets=["zone:thon-dong"],
        start=time(5, 30),
        rrule="FREQ=DAILY",
        programme=[{"media": SHA_A}],
    )
    fields.update(over)
    return ScheduleSpec.model_validate(fields)


def test_daily_session_is_at_0530_local_time_every_day():
    occ = expand(spec(), NOW, NOW + timedelta(days=3))
    assert [o.start for o in occ] == [
        datetime(2026, 11, d, 22, 30, tzinfo=timezone.utc) for d in (22, 23, 24)
    ]
    assert all(o.local_start.time() == time(5, 30) for o in occ)
    assert occ[0].end - occ[0].start == timedelta(minutes=0)  # no media durations given
    assert expand(spec(), NOW, NOW + timedelta(days=1), media_ms=MEDIA)[0].end - occ[
        0
    ].start == timedelta(minutes=10)


def test_weekly_monday_exceptions_and_validity_window():
    s = spec(
        rrule="FREQ=WEEKLY;BYDAY=MO",
        valid_from=date(2026, 11, 1),
        valid_until=date(2026, 12, 31),
        except_dates=[date(2026, 12, 7)],
    )
    days = [o.local_start.date() for o in expand(s, NOW, NOW + timedelta(days=60))]
    assert days == [
        date(2026, 11, 23),
        date(2026, 11, 30),
        date(2026, 12, 14),
        date(2026, 12, 21),
        date(2026, 12, 28),
    ]


def test_interval_rules_count_from_valid_from_whatever_the_window():
    s = spec(rrule="FREQ=DAILY;INTERVAL=2", valid_from=date(2026, 11, 21))
    first = [o.play_id for o in expand(s, NOW, NOW + timedelta(days=6))]
    shifted = [o.play_id for o in expand(s, NOW + timedelta(days=1), NOW + timedelta(days=6))]
    assert first == ["s-sang-20261123T0530", "s-sang-20261125T0530", "s-sang-20261127T0530"]
    assert shifted == first[1:]  # same days, just one fewer in the shorter window


def test_one_off_and_per_site_time_zone():
    once = spec(rrule=None, date=date(2026, 12, 1), start=time(9, 0), timezone="Asia/Bangkok")
    occ = expand(once, NOW, NOW + timedelta(days=30))
    assert len(occ) == 1
    assert occ[0].start == datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
    assert occ[0].play_id == "s-sang-20261201T0900"


def test_bad_specs_are_refused_with_a_reason():
    with pytest.raises(ValidationError, match="either 'rrule'"):
        spec(rrule=None)
    with pytest.raises(ValidationError, match="invalid rrule"):
        spec(rrule="FREQ=SOMETIMES")
    with pytest.raises(ValidationError, match="unknown time zone"):
        spec(timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="before valid_from"):
        spec(valid_from=date(2026, 2, 1), valid_until=date(2026, 1, 1))
    with pytest.raises(ValidationError, match="needs valid_from"):
        spec(rrule="FREQ=DAILY;INTERVAL=2")
    with pytest.raises(ValidationError, match="used twice"):
        ScheduleSet(schedules=[spec(), spec()])


def _codes(problems):
    return sorted((p.schedule, p.code) for p in problems)


def test_check_names_every_problem():
    schedules = ScheduleSet(
        quiet_hours=[QuietHours(start=time(21, 0), end=time(5, 0))],
        schedules=[
            spec(name="sang", slot_minutes=5),  # 10 min > 5
            spec(name="trung", start=time(5, 35), targets=["device:loa-2"]),  # clashes with sang
            spec(name="dem", start=time(3, 15)),  # the 03:15 wake-up
            spec(name="bao", start=time(3, 15), priority="emergency", targets=["all"]),
            spec(name="cu", rrule=None, date=date(2025, 1, 1)),  # in the past
            spec(name="thieu", start=time(12, 0), programme=[{"media": "c" * 64}]),
        ],
    )
    assert _codes(check(schedules, now=NOW, media_ms=MEDIA, fleet=FLEET)) == [
        ("cu", "never_fires"),
        ("dem", "quiet_hours"),
        ("sang", "longer_than_slot"),
        ("thieu", "missing_media"),
        ("trung", "conflict"),
    ]


def test_different_zones_and_different_priorities_do_not_conflict():
    schedules = ScheduleSet(
        schedules=[
            spec(name="dong"),
            spec(name="tay", targets=["zone:thon-tay"]),
            spec(
                name="tin-gap",
                priority="priority",
                targets=["all"],
                start=time(5, 35),
                programme=[{"media": SHA_B}],
            ),
        ]
    )
    assert check(schedules, now=NOW, media_ms=MEDIA, fleet=FLEET) == []
    rows = preview(schedules, NOW, NOW + timedelta(days=1), MEDIA, FLEET)
    urgent = next(r for r in rows if r.occurrence.schedule == "tin-gap")
    assert sorted(urgent.preempts) == ["s-dong-20261123T0530", "s-tay-20261123T0530"]


def test_relay_items_count_towards_the_programme_length():
    s = spec(
        programme=[{"media": SHA_B}, {"relay": "http://vov.example/vov1", "duration_s": 900}],
        slot_minutes=15,
    )
    problems = check(ScheduleSet(schedules=[s]), now=NOW, media_ms=MEDIA)
    assert _codes(problems) == [("sang", "longer_than_slot")]
    assert "15:30" in problems[0].message


# --- property: a set that passes the conflict check never shows an equal-priority overlap ---

targets = st.sampled_from(
    ["zone:thon-dong", "zone:thon-tay", "device:loa-1", "device:loa-3", "all"]
)


@st.composite
def schedule_sets(draw):
    n = draw(st.integers(1, 5))
    specs = []
    for i in range(n):
        specs.append(
            ScheduleSpec(
                name=f"s{i}",
                targets=draw(st.lists(targets, min_size=1, max_size=2)),
                priority=draw(st.sampled_from(["normal", "priority"])),
                start=time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 15, 30, 45]))),
                rrule=draw(
                    st.sampled_from(
                        ["FREQ=DAILY", "FREQ=WEEKLY;BYDAY=MO,TH", "FREQ=HOURLY;INTERVAL=7"]
                    )
                ),
                valid_from=date(2026, 11, 1),
                programme=[{"media": draw(st.sampled_from([SHA_A, SHA_B]))}],
            )
        )
    return ScheduleSet(schedules=specs)


@given(schedule_sets())
@settings(max_examples=150, deadline=None)
def test_accepted_schedules_never_play_two_equal_priorities_on_one_loudspeaker(schedules):
    horizon = timedelta(days=7)
    problems = check(schedules, now=NOW, horizon=horizon, media_ms=MEDIA, fleet=FLEET)
    assume(not any(p.code == "conflict" for p in problems))  # refused sets play nothing
    occ = expand_all(schedules, NOW, NOW + horizon, MEDIA)
    for i, a in enumerate(occ):
        for b in occ[i + 1 :]:
            if a.rank != b.rank or not (a.start < b.end and b.start < a.end):
                continue
            shared = {d for t in a.targets for d in FLEET.devices_of(t)} & {
                d for t in b.targets for d in FLEET.devices_of(t)
            }
            assert not shared, (a, b)
            assert "all" not in a.targets + b.targets, (a, b)


def test_quiet_at_finds_the_window_a_start_falls_in_across_midnight_and_by_zone():
    from datetime import datetime, time

    from controller.schedules.checks import quiet_at
    from controller.schedules.model import QuietHours

    night = QuietHours(zones=["thon-tay"], start=time(22), end=time(5))
    assert quiet_at(datetime(2026, 12, 1, 23, 30), {"thon-tay"}, [night]) == night
    assert quiet_at(datetime(2026, 12, 2, 4, 59), {"thon-tay", "x"}, [night]) == night
    assert quiet_at(datetime(2026, 12, 2, 5, 0), {"thon-tay"}, [night]) is None
    assert quiet_at(datetime(2026, 12, 1, 21, 59), {"thon-tay"}, [night]) is None
    assert quiet_at(datetime(2026, 12, 1, 23, 30), {"thon-dong"}, [night]) is None
    everywhere = QuietHours(start=time(12), end=time(13, 30))
    assert quiet_at(datetime(2026, 12, 1, 12, 0), set(), [night, everywhere]) == everywhere
