"""What is worth telling, from plain facts: each condition once by its key; an emergency only
after its wait; nothing for alarms other rules do not name."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from controller.notices.rules import (
    HeldEmergency,
    MissedBulletin,
    OpenAlarm,
    Rule,
    find,
    under_limit,
)

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=timezone.utc)
WAIT = timedelta(minutes=2)


def test_each_rule_names_its_condition():
    alarms = [
        OpenAlarm(1, "device_offline", "loa-1", "Cụm chợ", ["Thôn Đông"], NOW),
        OpenAlarm(2, "speaker_line", "loa-2", "Cụm đình", ["Thôn Đoài"], NOW, channel=2),
        OpenAlarm(3, "door_open", "loa-3", "Cụm 3", [], NOW),
    ]  # no rule for it
    held = [
        HeldEmergency("b-1", "Lũ quét", "lan", NOW - WAIT),
        HeldEmergency("b-2", "Bão", "minh", NOW - WAIT / 2),
    ]  # not waited long enough
    missed = [MissedBulletin("b-9", "Bản tin sáng", NOW, ["Bản Nậm"], 2)]
    found = find(alarms, held, missed, NOW, WAIT)
    assert [(n.key, n.rule) for n in found] == [
        ("alarm:1", Rule.cluster_offline),
        ("alarm:2", Rule.speaker_line),
        ("confirm:b-1", Rule.emergency_unconfirmed),
        ("missed:b-9", Rule.bulletin_missed),
    ]
    assert found[1].params["line"] == 3  # numbered from 1, as on the cabinet
    assert found[3].params["villages"] == "Bản Nậm"
    assert found[3].params["clusters"] == 2
    # the same facts again give the same keys: the service tells each once per channel
    assert [n.key for n in find(alarms, held, missed, NOW, WAIT)] == [n.key for n in found]


def test_the_hourly_limit():
    assert under_limit(19, 20)
    assert not under_limit(20, 20)
