"""Building each device's plan from one snapshot: pure, so every rule is checked directly."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

from controller.schedules.model import ScheduleSet
from controller.schedules.planning import OneOff, Snapshot, build_plans, planned_plays
from controller.schedules.targets import Fleet
from controller.streams.timeline import RelayTimeline, relay_mount

A, B = "a" * 64, "b" * 64
MEDIA = {A: (1000, 60_000), B: (2000, 30_000)}  # sha → (size, duration_ms)
START = datetime(2026, 12, 1, 0, 0, tzinfo=timezone.utc)  # 07:00 in Hà Nội
END = START + timedelta(hours=48)
FLEET = Fleet({"thon-dong": frozenset({"loa-1", "loa-2"}), "thon-tay": frozenset({"loa-3"})})
DEVICES = ("loa-1", "loa-2", "loa-3", "loa-4")  # loa-4 is in no zone


def _set(*schedules: dict) -> ScheduleSet:
    return ScheduleSet.model_validate({"schedules": list(schedules)})


def _snapshot(*schedules: dict, one_offs: tuple[OneOff, ...] = ()) -> Snapshot:
    return Snapshot(
        schedules=_set(*schedules), fleet=FLEET, media=MEDIA, devices=DEVICES, one_offs=one_offs
    )


MORNING = {
    "name": "sang",
    "title": "Buổi sáng",
    "targets": ["zone:thon-dong"],
    "start": "08:00",
    "rrule": "FREQ=DAILY",
    "programme": [{"media": A}, {"relay": "http://vov.example/1", "duration_s": 600}, {"media": B}],
}


def test_a_zone_schedule_reaches_only_its_devices_and_others_get_an_empty_plan():
    plans = build_plans(_snapshot(MORNING), START, END, 120)
    assert set(plans) == set(DEVICES)
    assert [len(plans[d].entries) for d in DEVICES] == [6, 6, 0, 0]  # 2 days × 3 items
    assert plans["loa-3"].version == plans["loa-4"].version  # empty plans look alike
    assert plans["loa-1"].max_late_s == 120
    assert plans["loa-1"].window_end == END


def test_a_programme_becomes_consecutive_entries_with_their_own_play_ids():
    entries = build_plans(_snapshot(MORNING), START, END, 120)["loa-1"].entries[:3]
    assert [e.play_id for e in entries] == [
        "s-sang-20261201T0800.1",
        "s-sang-20261201T0800.2",
        "s-sang-20261201T0800.3",
    ]
    first, relay, last = entries
    assert first.start_at == START + timedelta(hours=1)  # 08:00 local is 01:00 UTC
    assert relay.start_at == first.start_at + timedelta(seconds=60)  # after A's 60 s
    assert relay.stream is not None
    assert relay.stream.url == "http://vov.example/1"
    assert last.start_at == relay.start_at + timedelta(seconds=600)
    assert last.media is not None
    assert last.media.sha256 == B
    assert last.media.size == 2000
    assert {e.title for e in entries} == {"Buổi sáng"}


def test_all_reaches_every_device_even_one_in_no_zone():
    evening = {
        "name": "toi",
        "targets": ["all"],
        "start": "19:00",
        "date": "2026-12-01",
        "programme": [{"media": A}],
    }
    plans = build_plans(_snapshot(evening), START, END, 120)
    assert all(len(plans[d].entries) == 1 for d in DEVICES)
    assert plans["loa-4"].entries[0].play_id == "s-toi-20261201T1900"  # one item: no suffix


def test_media_the_controller_does_not_have_is_never_planned():
    ghost = {
        "name": "ma",
        "targets": ["all"],
        "start": "09:00",
        "date": "2026-12-01",
        "programme": [{"media": "c" * 64}, {"media": A}],
    }
    [entry] = build_plans(_snapshot(ghost), START, END, 120)["loa-1"].entries
    assert entry.media is not None
    assert entry.media.sha256 == A


def test_a_one_off_travels_in_the_plans_of_exactly_its_devices_inside_the_window():
    soon = OneOff(
        play_id="b-1",
        title="Họp thôn",
        media_sha256=B,
        start_at=START + timedelta(hours=3),
        priority="priority",
        devices=frozenset({"loa-2", "loa-9"}),
        volume=80,
    )
    later = OneOff(
        play_id="b-2",
        title="Sau",
        media_sha256=B,
        start_at=END + timedelta(hours=1),
        priority="normal",
        devices=frozenset({"loa-2"}),
    )
    plans = build_plans(_snapshot(one_offs=(soon, later)), START, END, 120)
    [entry] = plans["loa-2"].entries
    assert (entry.play_id, entry.priority.value, entry.volume) == ("b-1", "priority", 80)
    assert plans["loa-1"].entries == []
    assert "loa-9" not in plans


def test_entries_are_in_time_order_and_the_version_follows_the_content():
    one_off = OneOff(
        play_id="b-1",
        title="",
        media_sha256=A,
        start_at=START + timedelta(minutes=30),
        priority="normal",
        devices=frozenset({"loa-1"}),
    )
    plans = build_plans(_snapshot(MORNING, one_offs=(one_off,)), START, END, 120)
    starts = [e.start_at for e in plans["loa-1"].entries]
    assert starts == sorted(starts)
    assert plans["loa-1"].entries[0].play_id == "b-1"
    again = build_plans(_snapshot(MORNING, one_offs=(one_off,)), START, END, 120)
    assert again["loa-1"].version == plans["loa-1"].version
    without = build_plans(_snapshot(MORNING), START, END, 120)
    assert without["loa-1"].version != plans["loa-1"].version
    assert without["loa-2"].version == plans["loa-2"].version


def test_firing_sees_the_same_occurrences_without_the_one_offs():
    one_off = OneOff(
        play_id="b-1",
        title="",
        media_sha256=A,
        start_at=START + timedelta(minutes=30),
        priority="normal",
        devices=frozenset({"loa-1"}),
    )
    snapshot = _snapshot(MORNING, one_offs=(one_off,))
    with_one_offs = planned_plays(snapshot, START, END)
    for_firing = planned_plays(snapshot, START, END, one_offs=False)
    assert len(with_one_offs) == len(for_firing) + 1
    assert all(p.occurrence is not None for p in for_firing)
    assert [e.play_id for p in for_firing for e in p.entries] == [
        e.play_id for p in with_one_offs if p.occurrence for e in p.entries
    ]


def test_a_text_item_plays_the_media_it_was_spoken_into_and_is_not_planned_before():
    spoken = {**MORNING, "programme": [{"text": "Họp thôn lúc 8 giờ.", "media": B}, {"media": A}]}
    first, second = build_plans(_snapshot(spoken), START, END, 120)["loa-1"].entries[:2]
    assert first.media is not None
    assert first.media.sha256 == B
    assert second.start_at == first.start_at + timedelta(seconds=30)  # after B's 30 s
    unspoken = {**MORNING, "programme": [{"text": "Họp thôn lúc 8 giờ."}]}
    assert build_plans(_snapshot(unspoken), START, END, 120)["loa-1"].entries == []


def test_a_relay_carries_its_fallback_file_only_when_the_controller_has_it():
    def relay(fallback: str) -> dict:
        return {
            "name": "vov",
            "targets": ["all"],
            "start": "06:00",
            "date": "2026-12-02",
            "programme": [
                {
                    "relay": "http://vov.example/1",
                    "duration_s": 600,
                    "fallback": ["http://vov.example/2"],
                    "fallback_media": fallback,
                }
            ],
        }

    [entry] = build_plans(_snapshot(relay(B)), START, END, 120)["loa-1"].entries
    assert entry.stream is not None
    assert entry.stream.fallback_urls == ["http://vov.example/2"]
    assert entry.stream.fallback_media is not None
    assert entry.stream.fallback_media.sha256 == B
    assert entry.stream.silence_s is None  # the agent's own dead-air threshold (10 s)
    [without] = build_plans(_snapshot(relay("c" * 64)), START, END, 120)["loa-1"].entries
    assert without.stream is not None
    assert without.stream.fallback_media is None


def test_a_relay_goes_through_the_stations_copy_named_by_its_play_id():
    timeline = RelayTimeline("http://dai.example:8000", 1500)
    snapshot = dataclasses.replace(_snapshot(MORNING), relay_timeline=timeline)
    entries = build_plans(snapshot, START, END, 120)["loa-1"].entries
    relays = [e for e in entries if e.stream is not None]
    assert relays
    mounts = set()
    for entry in relays:
        assert entry.stream is not None
        assert entry.stream.url == "http://vov.example/1"  # the original, when the copy fails
        assert entry.stream.delay_ms == 1500
        assert entry.stream.station_url == "http://dai.example:8000" + relay_mount(entry.play_id)
        mounts.add(entry.stream.station_url)
    assert len(mounts) == len(relays)  # one copy per play
    [plain] = [
        e for e in build_plans(_snapshot(MORNING), START, END, 120)["loa-1"].entries[:3] if e.stream
    ]
    assert plain.stream is not None
    assert plain.stream.station_url is None  # no stream server: each plays the original
