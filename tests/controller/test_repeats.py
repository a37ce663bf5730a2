"""Repeats as pure functions: how many plays, when, and the sentence restating the issue time
(read the Vietnamese way by the normaliser: no digit reaches the voice)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from controller.domain.repeats import (
    MAX_REPETITIONS,
    issue_time_in,
    issue_time_words,
    repetition_count,
    repetition_starts,
)
from controller.media.tts.normalise import normalise


def test_count_covers_the_span_including_the_first_and_is_capped():
    assert repetition_count(timedelta(hours=2), timedelta(hours=6)) == 4  # 0, 2, 4, 6 h
    assert repetition_count(timedelta(minutes=2), timedelta(minutes=5)) == 3
    assert repetition_count(timedelta(hours=3), None) == 9  # a day, until cancelled
    assert repetition_count(timedelta(minutes=1), None) == MAX_REPETITIONS
    with pytest.raises(ValueError, match="positive interval"):
        repetition_count(timedelta(0), None)


def test_starts_follow_the_first():
    first = datetime(2026, 12, 1, 7, 30, tzinfo=timezone.utc)
    assert repetition_starts(first, timedelta(hours=2), 3) == [
        first,
        first + timedelta(hours=2),
        first + timedelta(hours=4),
    ]


def test_the_issue_time_is_said_in_words():
    words = issue_time_words(datetime(2026, 12, 1, 14, 30))
    assert words == "Bản tin phát lúc 14 giờ 30 ngày 1 tháng 12."
    said = normalise(words, {})
    assert not any(c.isdigit() for c in said)
    assert "mười bốn giờ ba mươi" in said
    assert "tháng mười hai" in said
    assert (
        issue_time_words(datetime(2026, 12, 1, 7, 0)) == "Bản tin phát lúc 7 giờ ngày 1 tháng 12."
    )


def test_the_issue_time_is_said_in_english_and_left_out_where_no_words_exist():
    words = issue_time_words(datetime(2026, 12, 1, 14, 5))
    assert issue_time_in("vi", words) == words
    assert issue_time_in("en", words) == "This bulletin was issued at 14:05 on 1 December."
    assert issue_time_in("hmn", words) is None
