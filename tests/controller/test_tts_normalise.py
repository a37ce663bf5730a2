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
        ("Liên hệ 0912 345 678", "Liên hệ không chín một hai, ba bốn năm, sáu bảy tám"),
        ("gọi 114", "gọi một một bốn"),
        (
            "đường dây nóng: 0203.3822.111",
            "đường dây nóng: không hai không ba, ba tám hai hai, một một một",
        ),
        ("+84 912 345 678", "cộng tám bốn, chín một hai, ba bốn năm, sáu bảy tám"),
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


READINGS: dict[str, list[tuple[str, str]]] = {
    "money": [
        ("giá 25.000 đồng/kg", "giá hai mươi lăm nghìn đồng một ki lô gam"),
        ("vé 50.000đ", "vé năm mươi nghìn đồng"),
        ("hỗ trợ 1.500.000 VNĐ", "hỗ trợ một triệu năm trăm nghìn đồng"),
        ("120.000 VND/người", "một trăm hai mươi nghìn đồng một người"),
        ("lợn hơi 62.000 đ/kg", "lợn hơi sáu mươi hai nghìn đồng một ki lô gam"),
        ("mức 1,2 triệu đồng", "mức một phẩy hai triệu đồng"),
    ],
    "negative temperatures": [
        ("nhiệt độ -3°C", "nhiệt độ âm ba độ xê"),
        ("có nơi -3 độ", "có nơi âm ba độ"),
        ("từ -2 đến 5°C", "từ âm hai đến năm độ xê"),
    ],
    "fractions and scores, not dates": [
        ("được 1/2 số hộ", "được một phần hai số hộ"),
        ("chiếm 3/10 diện tích", "chiếm ba phần mười diện tích"),
        ("35/70 hộ đã nộp", "ba mươi lăm phần bảy mươi hộ đã nộp"),
        ("tỷ số 3-1", "tỷ số ba một"),
        ("thắng 2:0", "thắng hai không"),
        ("ngày 3/10 họp", "ngày ba tháng mười họp"),
        ("hạn 3/10", "hạn ngày ba tháng mười"),
    ],
    "ranges": [
        ("từ 20-25/10", "từ ngày hai mươi đến hai mươi lăm tháng mười"),
        ("7h-11h", "bảy giờ đến mười một giờ"),
        ("từ 7:30-11:00", "từ bảy giờ ba mươi phút đến mười một giờ"),
        (
            "gió 118-133 km/giờ",
            "gió một trăm mười tám đến một trăm ba mươi ba ki lô mét trên giờ",
        ),
        ("mưa 100-200 mm", "mưa một trăm đến hai trăm mi li mét"),
    ],
    "units after a slash": [
        ("gió 60 km/giờ", "gió sáu mươi ki lô mét trên giờ"),
        ("xả 1.200 m3/s", "xả một nghìn hai trăm mét khối trên giây"),
        ("mưa 100 mm/ngày", "mưa một trăm mi li mét trên ngày"),
        ("năng suất 6 tấn/ha", "năng suất sáu tấn trên héc ta"),
        ("200 người/km2", "hai trăm người trên ki lô mét vuông"),
    ],
    "phone numbers in groups": [
        ("Liên hệ 0912345678", "Liên hệ không chín một hai, ba bốn năm, sáu bảy tám"),
        ("gọi 024 3825 1234", "gọi không hai bốn, ba tám hai năm, một hai ba bốn"),
        (
            "đường dây nóng 02033822111",
            "đường dây nóng không hai không ba, ba tám hai, hai một một một",
        ),
        ("gọi 1900 1234", "gọi một chín không không, một hai ba bốn"),
        ("gọi 113", "gọi một một ba"),
    ],
    "symbols": [
        ("Hà Nội - Hải Phòng", "Hà Nội, Hải Phòng"),
        ("KT-XH", "kinh tế xã hội"),
        ("a & b", "a và b"),
    ],
}


@pytest.mark.parametrize(
    ("category", "text", "said"),
    [(category, text, said) for category, rows in READINGS.items() for text, said in rows],
)
def test_readings_per_category(category, text, said):
    assert normalise(text) == said, category


def test_the_station_lexicon_overrides_a_reading():
    assert normalise("gió 60 km/giờ", {"km/giờ": "cây số một giờ"}) == (
        "gió sáu mươi cây số một giờ"
    )
    assert normalise("100 VNĐ", {"VNĐ": "đồng Việt Nam"}) == "một trăm đồng Việt Nam"


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
        "đ",
        "VNĐ",
        "đồng/kg",
        "km/giờ",
        "m3/s",
        "°",
        "&",
        "@",
        "=",
        "–",
        "tỷ số ",
        "được ",
        " số",
    ]
)


@given(
    st.lists(
        st.one_of(_PIECES, st.text(max_size=6), st.integers(0, 10**20).map(str)), max_size=12
    ).map("".join)
)
@settings(max_examples=500)
def test_no_digit_or_symbol_survives(text):
    said = normalise(text)
    assert not any(c.isdecimal() for c in said), (text, said)
    assert not set(said) & set("/%°+&=#*@$<>^~|_\\"), (text, said)
