"""Repeated broadcasts, as pure functions: when each repetition starts, and the spoken
sentence that restates when the bulletin was first issued (storm bulletins do)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

MAX_REPETITIONS = 48  # e.g. every 30 min for a day; "until cancelled" stops here
UNTIL_CANCELLED = timedelta(hours=24)


def repetition_count(every: timedelta, for_: timedelta | None) -> int:
    """Plays in all (the first included) when repeating every ``every`` for ``for_`` (None:
    until cancelled, at most a day), never more than ``MAX_REPETITIONS``."""
    if every <= timedelta(0):
        raise ValueError("a repeat needs a positive interval")
    span = UNTIL_CANCELLED if for_ is None else for_
    return max(1, min(MAX_REPETITIONS, int(span / every) + 1))


def repetition_starts(first: datetime, every: timedelta, count: int) -> list[datetime]:
    """Start of each play: the first, then one every ``every``."""
    return [first + k * every for k in range(count)]


def issue_time_words(local: datetime) -> str:
    """ "Bản tin phát lúc 14 giờ 30 ngày 1 tháng 12" (read aloud before each repetition);
    the digits are read out by the text normaliser like any other text."""
    minutes = f" {local.minute}" if local.minute else ""
    return f"Bản tin phát lúc {local.hour} giờ{minutes} ngày {local.day} tháng {local.month}."


_ISSUE_TIME = re.compile(r"Bản tin phát lúc (\d+) giờ(?: (\d+))? ngày (\d+) tháng (\d+)\.")
_MONTHS_EN = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def issue_time_in(language: str, words: str) -> str | None:
    """The issue-time sentence (``issue_time_words``) in ``language`` where it is known
    (Vietnamese, English), else None: that version is heard without it."""
    if language == "vi":
        return words
    m = _ISSUE_TIME.fullmatch(words)
    if m is None or language != "en":
        return None
    hour, minute, day, month = (int(g or 0) for g in m.groups())
    return f"This bulletin was issued at {hour}:{minute:02d} on {day} {_MONTHS_EN[month - 1]}."
