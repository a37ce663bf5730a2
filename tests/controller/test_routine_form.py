"""The routine's edit form ↔ schedules: simple repetitions get simple fields, the rest keeps its
rule, and every bad field is named in Vietnamese."""

from __future__ import annotations

import pytest

from controller.schedules.model import ScheduleSpec
from controller.web.routine_form import (
    FormProblems,
    RoutineForm,
    form_from_spec,
    programme_words,
    repetition,
    spec_from_form,
)

SHA = "a" * 64


def _spec(**fields) -> ScheduleSpec:
    base = dict(
        name="buoi-sang",
        title="Buổi sáng",
        targets=["zone:thon-dong"],
        start="05:30",
        rrule="FREQ=DAILY",
        programme=[{"media": SHA}],
    )
    base.update(fields)
    return ScheduleSpec.model_validate(base)


@pytest.mark.parametrize(
    ("fields", "repeat", "words"),
    [
        ({}, "daily", "Hằng ngày lúc 05:30"),
        ({"rrule": "FREQ=WEEKLY;BYDAY=MO,TH"}, "weekly", "Thứ Hai, Thứ Năm lúc 05:30"),
        ({"rrule": None, "date": "2027-03-02"}, "once", "Ngày 02/03/2027 lúc 05:30"),
        ({"rrule": "FREQ=MONTHLY;BYMONTHDAY=1"}, "rule", "Theo quy tắc FREQ=MONTHLY;BYMONTHDAY=1"),
    ],
)
def test_a_stored_schedule_round_trips_through_the_form(fields, repeat, words):
    spec = _spec(
        **fields,
        except_dates=["2027-02-06"],
        slot_minutes=30,
        programme=[
            {"media": SHA},
            {
                "relay": "http://vov.example/vov1",
                "duration_s": 1800,
                "fallback": ["http://b.example/x"],
            },
        ],
    )
    form = form_from_spec(spec)
    assert form.repeat == repeat
    assert spec_from_form(form, "vi") == spec
    assert repetition(spec, "vi").startswith(words)
    assert programme_words(spec, {SHA: "Tin sáng"}, "vi") == [
        "Tin sáng",
        "Tiếp sóng http://vov.example/vov1 (30 phút)",
    ]


def test_a_text_item_round_trips_and_is_told_by_its_words():
    spec = _spec(
        programme=[
            {"text": "Sáng mai 8h họp thôn.", "voice": "espeak:vi-vn-x-south"},
            {"text": "Mời bà con tham dự."},
        ]
    )
    form = form_from_spec(spec)
    assert [row["kind"] for row in form.items] == ["text", "text"]
    assert spec_from_form(form, "vi") == spec
    assert programme_words(spec, {}, "vi") == [
        "Đọc văn bản: “Sáng mai 8h họp thôn.”",
        "Đọc văn bản: “Mời bà con tham dự.”",
    ]
    form.items[1]["text"] = "  "
    with pytest.raises(FormProblems) as refused:
        spec_from_form(form, "vi")
    assert "Mục 2: chưa nhập văn bản cần đọc." in refused.value.messages


def test_editing_keeps_what_the_form_does_not_show():
    stored = _spec(targets=["zone:thon-dong", "device:loa-cho"], timezone="Asia/Bangkok")
    form = form_from_spec(stored)
    form.villages = ["thon-bac"]
    edited = spec_from_form(form, "vi", keep=stored)
    assert edited.targets == ["zone:thon-bac", "device:loa-cho"]
    assert edited.timezone == "Asia/Bangkok"


def test_every_bad_field_is_named_in_vietnamese():
    form = RoutineForm(
        name="x",
        title=" ",
        villages=[],
        start="25:99",
        repeat="weekly",
        days=[],
        valid_from="2027-02-01",
        valid_until="2027-01-01",
        except_dates="mai",
        slot_minutes="0",
        items=[{"kind": "relay", "url": "ftp://x", "minutes": "5"}],
    )
    with pytest.raises(FormProblems) as exc:
        spec_from_form(form, "vi")
    text = " | ".join(exc.value.messages)
    for expected in (
        "Hãy nhập tiêu đề",
        "Hãy chọn ít nhất một thôn",
        "giờ bắt đầu",
        "ít nhất một ngày trong tuần",
        "“mai” không phải ngày",
        "Khung giờ là số phút",
        "Mục 1: tiếp sóng cần địa chỉ http(s)",
        "Hãy chọn ít nhất một bản tin",
        "Ngày kết thúc trước ngày bắt đầu",
    ):
        assert expected in text, expected
    english = RoutineForm(
        name="x",
        title="T",
        villages=["all"],
        start="06:00",
        repeat="rule",
        rrule="FREQ=NEVER",
        items=[{"kind": "media", "sha": SHA}],
    )
    with pytest.raises(FormProblems) as exc:
        spec_from_form(english, "en")
    assert exc.value.messages == ["Invalid repetition rule (e.g. FREQ=WEEKLY;BYDAY=MO)."]
