"""Which pinned message an alert sounds at once: the first (in the station's order) with one of
its words in the alert's event, headline or categories. Pure.

Words are matched whole and case-blind but with their accents: folded Vietnamese confuses
words ("bão" storm and "bao" as in "bao gồm" fold alike), so "bão" never matches "bao".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from .alert import Info

MAX_WORDS = 10


def normal(text: str) -> str:
    """Case-blind, one Unicode form (a phone's "bão" may come composed or not)."""
    return unicodedata.normalize("NFC", text).casefold().strip()


def clean_words(words: Iterable[str]) -> list[str]:
    """A message's words as stored: normalised, without blanks or repeats, in their order."""
    seen: list[str] = []
    for word in words:
        w = " ".join(normal(word).split())
        if w and w not in seen:
            seen.append(w)
    return seen


def pinned_for(info: Info, messages: Sequence[tuple[str, Sequence[str]]]) -> str | None:
    """The id of the first message ``(id, words)`` whose words the alert names, else None."""
    said = normal(" ".join([info.event, info.headline, *info.categories]))
    for message_id, words in messages:
        for word in words:
            if re.search(rf"(?<!\w){re.escape(normal(word))}(?!\w)", said):
                return message_id
    return None
