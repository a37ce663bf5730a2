"""Which pinned message a CAP alert sounds at once: whole words, case-blind, accents kept."""

from __future__ import annotations

import unicodedata

import pytest

from controller.cap.alert import Info
from controller.cap.pinned import clean_words, pinned_for

MESSAGES = [("lu-quet", ["lũ quét"]), ("bao", ["bão", "typhoon"]), ("chay", ["cháy rừng"])]


def _info(event: str, headline: str = "", categories: tuple[str, ...] = ("Met",)) -> Info:
    return Info(
        "vi-VN", list(categories), event, "Immediate", "Extreme", "Observed", headline=headline
    )


@pytest.mark.parametrize(
    ("event", "headline", "chosen"),
    [
        ("Bão", "", "bao"),
        ("BÃO SỐ 9", "", "bao"),  # case-blind
        ("Thời tiết", "Typhoon Yagi makes landfall", "bao"),  # the headline counts
        ("Lũ quét và sạt lở", "Bão số 3", "lu-quet"),  # the station's order decides
        ("Bao gồm các xã", "", None),  # "bao" is not "bão": accents kept
        ("Bãokhông", "", None),  # whole words only
        ("Cháy rừng cấp V", "", "chay"),
        ("Động đất", "", None),
    ],
)
def test_the_first_message_whose_word_the_alert_names(event, headline, chosen):
    assert pinned_for(_info(event, headline), MESSAGES) == chosen


def test_a_decomposed_word_matches_its_composed_form():
    decomposed = unicodedata.normalize("NFD", "Bão")
    assert decomposed != "Bão"
    assert pinned_for(_info(decomposed), MESSAGES) == "bao"
    assert clean_words([decomposed, " BÃO ", "", "lũ  quét"]) == ["bão", "lũ quét"]


def test_nothing_pinned_nothing_chosen():
    assert pinned_for(_info("Bão"), []) is None
