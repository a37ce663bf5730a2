"""Vietnamese text read the Vietnamese way: each rule with real sentences, and a property that
no digit survives whatever the text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.media.tts.normalise import normalise, read_number


@pytest.mark.parametrize(
    ("number", "words"),
    [
        (0, "không"),
        (5, "năm"),
        (10, "mười"),
        (11, "mười một"),
        (14, "mười bốn"),
        (15, "mười lăm"),
        (20, "hai mươi"),
        (21, "hai mươi mốt"),
        (24, "hai mươi tư"),
        (25, "hai mươi lăm"),
        (105, "một trăm linh năm"),
        (110, "một trăm mười"),
        (250, "hai trăm năm mươi"),
        (1000, "một nghìn"),
        (1005, "một nghìn không trăm linh năm"),
        (1250, "một nghìn hai trăm năm mươi"),
        (2026, "hai nghìn không trăm hai mươi sáu"),
        (1_000_005, "một triệu không trăm linh năm"),
        (2_000_000, "hai triệu"),
        (3_500_000_000, "ba tỷ năm trăm triệu"),
    ],
)
def test_numbers(number, words):
    assert read_number(number) == words


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # the example and everyday announcements
        (
            "Thông báo: 8h sáng mai họp thôn tại nhà văn hoá.",
            "Thông báo: tám giờ sáng mai họp thôn tại nhà văn hoá.",
        ),
        ("Có 1.250 hộ dân", "Có một nghìn hai trăm năm mươi hộ dân"),
        ("Cao 3,5 m", "Cao ba phẩy năm mét"),
        # times
        ("Lúc 8h30", "Lúc tám giờ ba mươi phút"),
        ("Lúc 17:00", "Lúc mười bảy giờ"),
        ("họp lúc 7:05", "họp lúc bảy giờ năm phút"),
        ("Từ 7-8 giờ", "Từ bảy đến tám giờ"),
        # dates
        ("Ngày 12/3 tiêm chủng", "Ngày mười hai tháng ba tiêm chủng"),
        ("hạn 12/3", "hạn ngày mười hai tháng ba"),
        ("ngày 5/6/2026", "ngày năm tháng sáu năm hai nghìn không trăm hai mươi sáu"),
        ("từ 30-4-2026", "từ ngày ba mươi tháng tư năm hai nghìn không trăm hai mươi sáu"),
        ("thứ 4, tháng 4", "thứ tư, tháng tư"),
        # phone numbers, digit by digit
        ("Liên hệ 0912 345 678", "Liên hệ không chín một hai ba bốn năm sáu bảy tám"),
        ("gọi 114", "gọi một một bốn"),
        (
            "đường dây nóng: 0203.3822.111",
            "đường dây nóng: không hai không ba ba tám hai hai một một một",
        ),
        ("+84 912 345 678", "cộng tám bốn chín một hai ba bốn năm sáu bảy tám"),
        # units
        ("Mưa 120 mm", "Mưa một trăm hai mươi mi li mét"),
        ("gió 60 km/h", "gió sáu mươi ki lô mét trên giờ"),
        ("nhiệt độ 30°C", "nhiệt độ ba mươi độ xê"),
        ("độ ẩm 85%", "độ ẩm tám mươi lăm phần trăm"),
        ("20-25°C", "hai mươi đến hai mươi lăm độ xê"),
        ("cách 2km", "cách hai ki lô mét"),
        ("5 ha lúa", "năm héc ta lúa"),
        # abbreviations
        ("UBND xã thông báo", "Ủy ban nhân dân xã thông báo"),
        ("HTX và BHYT ở TP", "hợp tác xã và bảo hiểm y tế ở thành phố"),
        ("QL1A", "quốc lộ một A"),
        ("TPHCM", "TPHCM"),  # not a known word: left alone, not cut into pieces
    ],
)
def test_sentences(text, said):
    assert normalise(text) == said


def test_the_station_lexicon_adds_and_overrides_words():
    lexicon = {"HND": "Hội Nông dân", "TP": "thành phố Lào Cai"}
    assert normalise("HND và TP", lexicon) == "Hội Nông dân và thành phố Lào Cai"


_PIECES = st.sampled_from(
    [
        "8h",
        "17:00",
        "12/3",
        "ngày",
        "1.250",
        "3,5",
        "km",
        "%",
        "°C",
        "0912 345 678",
        "-",
        "/",
        ".",
        ",",
        ":",
        " ",
        "UBND",
        "thứ",
        "tháng",
        "h",
        "A",
        "mưa",
        "9999999999999999999",
        "+84",
    ]
)


@given(
    st.lists(
        st.one_of(_PIECES, st.text(max_size=6), st.integers(0, 10**20).map(str)), max_size=12
    ).map("".join)
)
@settings(max_examples=500)
def test_no_digit_survives(text):
    said = normalise(text)
    assert not any(c.isdecimal() for c in said), (text, said)
