"""What a listener would say happened, in words: outcomes, reasons, the routine form's plain
words (pure functions)."""

from __future__ import annotations

from datetime import date, time

import pytest

from controller.domain.outcome import Outcome, dead_lines, outcome, reason_of
from controller.i18n import reason_words
from controller.schedules.model import ScheduleSpec
from controller.web.routine_form import derive_name, differences, parse_day


def test_a_play_with_a_dead_line_is_a_fault_not_a_success():
    assert outcome("played", {"line_ma": [410, 0], "dead_channels": [1]}) == Outcome.fault
    assert outcome("played", {"line_ma": [410, 405], "dead_channels": []}) == Outcome.played
    assert outcome("played", None) == Outcome.played
    assert dead_lines({"dead_channels": [1]}) == [2]  # numbered as on the cabinet
    assert outcome("media_ready") == Outcome.waiting
    assert outcome("missed") == Outcome.missed


@pytest.mark.parametrize(
    ("stored", "vi"),
    [
        (
            "no start reported in the play window (device offline, late or out of storage)",
            "cụm loa không báo bắt đầu phát trong khung giờ",
        ),
        ("interrupted by stop: minh", "dừng bằng nút DỪNG (minh)"),
        ("interrupted by emergency:b-123", "nhường cho một bản tin ưu tiên cao hơn (Khẩn cấp)"),
        ("refused: disk_full", "cụm loa từ chối: bộ nhớ đã đầy"),
        ("disk_full: [Errno 28] No space left on device", "bộ nhớ của cụm loa đã đầy"),
        ("media_unavailable: TimeoutError", "cụm loa không tải được âm thanh kịp giờ"),
        ("refused: something_new", "cụm loa từ chối lệnh (something_new)"),
        ("rejected: sai ngày", "bị từ chối: sai ngày"),
        ("too_late: 3 s", "lệnh đến quá muộn để phát"),
        ("a reason nobody wrote down", "a reason nobody wrote down"),
    ],
)
def test_every_stored_reason_reads_in_vietnamese(stored, vi):
    assert reason_words(stored, "vi").startswith(vi)
    assert "interrupted by" not in reason_words(stored, "vi")
    assert reason_of(None) is None
    assert reason_words(None, "vi") == ""


def test_a_schedule_code_is_made_from_its_name_and_dates_are_read_as_typed():
    assert derive_name("Bản tin sáng") == "ban-tin-sang"
    assert derive_name("Đọc báo Đảng") == "doc-bao-dang"
    assert derive_name("Bản tin sáng", {"ban-tin-sang"}) == "ban-tin-sang-2"
    assert derive_name("!!!") == "lich"
    assert parse_day("06/02/2027") == date(2027, 2, 6) == parse_day("2027-02-06")
    with pytest.raises(ValueError, match="out of range"):
        parse_day("31/02/2027")


def test_an_approver_sees_only_what_changes():
    old = ScheduleSpec(
        name="sang",
        title="Bản tin sáng",
        targets=["zone:thon-dong"],
        start=time(6, 0),
        rrule="FREQ=DAILY",
        programme=[{"media": "ab" * 32}],
    )
    new = old.model_copy(update={"start": time(6, 30)})
    changed = differences(old, new, {"ab" * 32: "Tin"}, "vi")
    assert len(changed) == 1  # the time, nothing else
    assert "06:00" in changed[0][1]
    assert "06:30" in changed[0][2]
    assert differences(old, old, {}, "vi") == []
