from datetime import datetime, timezone

import pytest

from loalang.timeparse import parse_when

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=timezone.utc)  # 10:00 in Hà Nội


def test_local_clock_time_today():
    assert parse_when("17:00", NOW) == datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)


def test_a_passed_clock_time_is_an_error_not_tomorrow():
    with pytest.raises(ValueError, match="past"):
        parse_when("03:15", NOW)


def test_relative_iso_and_local_dates():
    assert parse_when("+10m", NOW) == datetime(2026, 11, 22, 3, 10, tzinfo=timezone.utc)
    assert parse_when("2026-12-01 05:30", NOW) == datetime(
        2026, 11, 30, 22, 30, tzinfo=timezone.utc
    )
    assert parse_when("2026-12-01T05:30:00+00:00", NOW) == datetime(
        2026, 12, 1, 5, 30, tzinfo=timezone.utc
    )


def test_garbage_is_a_clear_error():
    with pytest.raises(ValueError, match="HH:MM"):
        parse_when("tomorrow-ish", NOW)
