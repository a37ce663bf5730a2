"""Vietnamese text made ready to be read aloud: numbers, times, dates, phone numbers, units and
abbreviations written out in words, the way a commune announcer reads them.

Pure and table-driven. The registries' Vietnamese normalisers were looked at (``vinorm`` wraps
an unmaintained native binary; ``underthesea``'s ``text_normalize`` fixes Unicode, not numbers),
so the rules are here, each with its test. A station extends the abbreviations (its lexicon).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")
SCALES = ("", "nghìn", "triệu", "tỷ", "nghìn tỷ", "triệu tỷ")

ABBREVIATIONS: dict[str, str] = {
    "UBND": "Ủy ban nhân dân",
    "HĐND": "Hội đồng nhân dân",
    "MTTQ": "Mặt trận Tổ quốc",
    "UBMTTQ": "Ủy ban Mặt trận Tổ quốc",
    "HTX": "hợp tác xã",
    "BHYT": "bảo hiểm y tế",
    "BHXH": "bảo hiểm xã hội",
    "TP": "thành phố",
    "TX": "thị xã",
    "TT": "thị trấn",
    "THCS": "trung học cơ sở",
    "THPT": "trung học phổ thông",
    "CSGT": "cảnh sát giao thông",
    "PCCC": "phòng cháy chữa cháy",
    "PCTT": "phòng chống thiên tai",
    "TKCN": "tìm kiếm cứu nạn",
    "BCH": "Ban chỉ huy",
    "ATGT": "an toàn giao thông",
    "HLHPN": "Hội Liên hiệp Phụ nữ",
    "CCB": "Cựu chiến binh",
    "XHCN": "xã hội chủ nghĩa",
    "KT-XH": "kinh tế xã hội",
    "CN": "Chủ nhật",
    "VN": "Việt Nam",
    "SĐT": "số điện thoại",
    "ĐT": "điện thoại",
    "QL": "quốc lộ",
    "TL": "tỉnh lộ",
    "BQL": "Ban quản lý",
}
"""What every station's text may hold; a station adds or overrides entries (its lexicon)."""

UNITS: dict[str, str] = {
    "km/h": "ki lô mét trên giờ",
    "m/s": "mét trên giây",
    "km²": "ki lô mét vuông",
    "km2": "ki lô mét vuông",
    "m²": "mét vuông",
    "m2": "mét vuông",
    "m³": "mét khối",
    "m3": "mét khối",
    "kWh": "ki lô oát giờ",
    "kW": "ki lô oát",
    "km": "ki lô mét",
    "cm": "xen ti mét",
    "mm": "mi li mét",
    "ml": "mi li lít",
    "kg": "ki lô gam",
    "ha": "héc ta",
    "°C": "độ xê",
    "ºC": "độ xê",
    "°": "độ",
    "%": "phần trăm",
    "m": "mét",
    "g": "gam",
    "l": "lít",
}
"""Units after a number (longest first when matching)."""

PER_UNITS: dict[str, str] = {
    "giờ": "giờ",
    "h": "giờ",
    "ngày": "ngày",
    "tuần": "tuần",
    "tháng": "tháng",
    "năm": "năm",
    "s": "giây",
    "giây": "giây",
    "phút": "phút",
    "người": "người",
    "hộ": "hộ",
    "khẩu": "khẩu",
    "con": "con",
    "suất": "suất",
    "lượt": "lượt",
    "chiếc": "chiếc",
    "tấn": "tấn",
    "tạ": "tạ",
    "yến": "yến",
    "kg": "ki lô gam",
    "g": "gam",
    "lít": "lít",
    "l": "lít",
    "ha": "héc ta",
    "sào": "sào",
    "km²": "ki lô mét vuông",
    "km2": "ki lô mét vuông",
    "m²": "mét vuông",
    "m2": "mét vuông",
    "m³": "mét khối",
    "m3": "mét khối",
    "km": "ki lô mét",
    "m": "mét",
}
"""What a quantity is counted per, after a slash: "km/giờ", "m3/s", "đồng/kg"."""

MONEY = ("VNĐ", "VND", "vnđ", "vnd", "đồng", "đ")
"""How a sum in đồng is written after its number."""

FRACTION_BEFORE = ("được", "đạt", "chiếm", "khoảng", "gần", "hơn", "còn", "bằng", "tăng", "giảm")
FRACTION_AFTER = ("số", "diện tích", "dân số", "tổng", "sản lượng", "quãng đường")
"""Words beside a/b that make it a fraction ("được 3/10 diện tích"), not a date."""

SCORE_WORDS = ("tỷ số", "tỉ số", "thắng", "thua", "hòa", "hoà", "cách biệt")
"""After these, 3-1 is a score: "tỷ số ba một"."""

CALL_WORDS = ("gọi", "số điện thoại", "điện thoại", "đường dây nóng", "hotline", "số máy")
"""After these, a number is dialled: read digit by digit (114, 0912 345 678)."""


# --- numbers --------------------------------------------------------------------------------


def _below_thousand(n: int, inside: bool) -> list[str]:
    """0..999; ``inside`` a larger number, hundreds and "linh" are said even when zero."""
    hundreds, rest = divmod(n, 100)
    tens, units = divmod(rest, 10)
    words: list[str] = []
    if hundreds or inside:
        words += [DIGITS[hundreds], "trăm"]
    if tens == 0:
        if units:
            if hundreds or inside:
                words.append("linh")
            words.append(DIGITS[units])
    elif tens == 1:
        words.append("mười")
        if units:
            words.append("lăm" if units == 5 else DIGITS[units])
    else:
        words += [DIGITS[tens], "mươi"]
        if units:
            words.append({1: "mốt", 4: "tư", 5: "lăm"}.get(units, DIGITS[units]))
    return words


def read_number(n: int) -> str:
    """An integer in Vietnamese words: 1250 → "một nghìn hai trăm năm mươi"."""
    if n < 0:
        return "âm " + read_number(-n)
    if n == 0:
        return "không"
    groups: list[int] = []
    while n:
        n, group = divmod(n, 1000)
        groups.append(group)
    if len(groups) > len(SCALES):
        return read_digits("".join(str(g) for g in reversed(groups)))
    words: list[str] = []
    for i in reversed(range(len(groups))):
        if groups[i] == 0:
            continue
        words += _below_thousand(groups[i], inside=bool(words))
        if SCALES[i]:
            words.append(SCALES[i])
    return " ".join(words)


def read_digits(text: str) -> str:
    """Each digit on its own (phone numbers, codes): "0912" → "không chín một hai"."""
    return " ".join(DIGITS[int(c)] for c in text if c.isdigit())


def read_decimal(whole: str, fraction: str) -> str:
    """3,5 → "ba phẩy năm"; a fraction with leading zeros is read digit by digit."""
    frac = read_digits(fraction) if fraction.startswith("0") else read_number(int(fraction))
    return f"{read_number(int(whole))} phẩy {frac}"


# --- the rules, in the order they apply -----------------------------------------------------

_NUM = r"\d{1,3}(?:\.\d{3})+(?:,\d+)?|\d+(?:[.,]\d+)?"
_WORD_END = r"(?![\wÀ-ỹ])"


def _number_words(token: str) -> str:
    """A number as written in Vietnamese text: "." groups thousands, "," marks decimals
    ("1.250" → 1250, "3,5" → 3.5); "1.5" (not a thousands group) is a decimal too."""
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?", token):
        whole, _, fraction = token.replace(".", "").partition(",")
        return read_decimal(whole, fraction) if fraction else read_number(int(whole))
    for mark in (",", "."):
        if mark in token:
            whole, _, fraction = token.partition(mark)
            return read_decimal(whole, fraction)
    if len(token) > 15:
        return read_digits(token)
    return read_number(int(token))


def phone_groups(number: str) -> list[str]:
    """A phone number's digit groups: as it was written (spaces, dots), else the usual
    ones: 0912 345 678, 024 3825 1234, 1900 1234; a short number is one group."""
    written = [g for g in re.split(r"[ .]+", number.strip()) if g]
    if len(written) > 1:
        return written
    digits = written[0] if written else ""
    if len(digits) <= 5:
        return [digits]
    if digits.startswith(("024", "028")) and len(digits) == 11:
        sizes = [3, 4, 4]  # Hà Nội, TP HCM: 024 3825 1234
    elif digits.startswith("02") and len(digits) == 11:
        sizes = [4, 3, 4]  # other provinces: 0203 382 2111
    elif len(digits) == 8:
        sizes = [4, 4]
    else:
        sizes = [4, 3, 3] + [3] * 4
    groups, at = [], 0
    for size in sizes:
        if at >= len(digits):
            break
        groups.append(digits[at : at + size])
        at += size
    if at < len(digits):
        groups[-1] += digits[at:]
    return groups


def read_phone(number: str) -> str:
    """Digit by digit, a pause (a comma) between groups, so a listener can write it down:
    "0912 345 678" → "không chín một hai, ba bốn năm, sáu bảy tám"."""
    lead = ""
    if number.startswith("+"):
        lead, number = "cộng ", number[1:]
    return lead + ", ".join(read_digits(g) for g in phone_groups(number) if read_digits(g))


def _phone(match: re.Match[str]) -> str:
    return read_phone(match.group(0))


def _time(hours: str, minutes: str | None) -> str:
    said = f"{read_number(int(hours))} giờ"
    if minutes and int(minutes):
        said += f" {read_number(int(minutes))} phút"
    return said


def _month(month: int) -> str:
    return "tư" if month == 4 else read_number(month)


def _date(day: str, month: str, year: str | None, said: str | None) -> str:
    words = said or "ngày "  # "ngày" as written, or added
    words += f"{read_number(int(day))} tháng {_month(int(month))}"
    if year:
        full = int(year) + (2000 if len(year) == 2 else 0)
        words += f" năm {read_number(full)}"
    return words


_PHONE = re.compile(r"(?<![\d.,])(?:\+84[ .]?|0)\d(?:[ .]?\d){7,10}(?![\d])")
_CALLED = re.compile(r"(?i)(" + "|".join(CALL_WORDS) + r")(\s*:?\s*)(\d[\d .]*\d|\d)")
_DATE = re.compile(
    r"(?i)(ngày\s+)?(?<![\d.])(\d{1,2})(?:/(\d{1,2})(?:/(\d{4}|\d{2}))?"
    r"|-(\d{1,2})-(\d{4}))(?![\d/])"
)
"""12/3, 12/3/2026, 12-3-2026 (with a hyphen only with its year: 7-8 is a range)."""
_CODE = re.compile(r"(?<=[A-ZĐ])(?=\d)|(?<=\d)(?=[A-ZĐ])")
"""Where a capital letter touches a digit (QL1A, A12): said apart."""
_CLOCK = re.compile(r"(?<![\d.,:])(\d{1,2}):(\d{2})(?::\d{2})?(?![\d:])")
_HOURS = re.compile(
    r"(?i)(?<![\d.,])(\d{1,2})\s?(?:h|g)(\d{2})?(?:\s?(?:p|ph)" + _WORD_END + r")?" + _WORD_END
)
_RANGE = re.compile(rf"(?<![\d.,])({_NUM})\s?[-–]\s?(?=\d)")
_UNIT = re.compile(
    rf"(?<![\d.,])({_NUM})\s?("
    + "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
    + r")(?![\wÀ-ỹ²³])"
)
_PER = "|".join(re.escape(u) for u in sorted(PER_UNITS, key=len, reverse=True))
_MONEY_UNIT = re.compile(
    rf"(?<![\d.,])({_NUM})\s?(?:{'|'.join(MONEY)})(?:\s?/\s?({_PER}))?(?![\wÀ-ỹ²³])"
)
_COUNTED = {**{u: w for u, w in UNITS.items() if "/" not in u}, **PER_UNITS}
"""What a number counts before a slash: a unit ("km") or a word ("người", "tấn")."""
_UNIT_PER = re.compile(
    rf"(?<![\d.,])({_NUM})\s?("
    + "|".join(re.escape(u) for u in sorted(_COUNTED, key=len, reverse=True))
    + rf")\s?/\s?({_PER})(?![\wÀ-ỹ²³])"
)
_NEGATIVE = re.compile(r"(?<![\wÀ-ỹ\d.,)])[-–−](?=\d)")
_SCORE = re.compile(
    r"(?i)(" + "|".join(SCORE_WORDS) + r")(\s+)(\d{1,2})\s?[-–:]\s?(\d{1,2})(?![\d/])"
)
_DAY_RANGE = re.compile(
    r"(?i)(ngày\s+)?(?<![\d.])(\d{1,2})\s?[-–]\s?(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?(?![\d/])"
)
_TIME_RANGE = re.compile(
    r"(?i)(?<![\d.,:])(\d{1,2}(?::\d{2}|\s?h(?:\d{2})?))\s?[-–]\s?(?=\d{1,2}(?::\d{2}|\s?h))"
)
_FRACTION = re.compile(
    r"(?i)(?:(?<=\b)(" + "|".join(FRACTION_BEFORE) + r")(\s+))?(?<![\d.,/])(\d{1,3})/(\d{1,3})"
    r"(?![\d/])(?=(\s+(?:" + "|".join(FRACTION_AFTER) + r")(?![\wÀ-ỹ]))?)"
)
_SYMBOLS = {
    "%": " phần trăm",
    "°": " độ",
    "+": " cộng ",
    "&": " và ",
    "=": " bằng ",
    "/": " ",
    "\\": " ",
    "#": " ",
    "*": " ",
    "@": " a còng ",
    "$": " đô la ",
    "<": " ",
    ">": " ",
    "^": " ",
    "~": " ",
    "|": " ",
    "_": " ",
}
"""Symbols left once every rule ran: said, or dropped (never read out by their name)."""
_ORDINAL = re.compile(r"(?i)\b(thứ|tháng)\s+(\d{1,2})(?!\d)")
_ANY_NUMBER = re.compile(_NUM)


def _dates(m: re.Match[str]) -> str:
    day, month, year = m.group(2), m.group(3) or m.group(5), m.group(4) or m.group(6)
    if not (1 <= int(day) <= 31 and 1 <= int(month) <= 12):
        return m.group(0)
    return _date(day, month, year, m.group(1))


def _day_range(m: re.Match[str]) -> str:
    first, last, month, year = m.group(2), m.group(3), m.group(4), m.group(5)
    if not (1 <= int(first) < int(last) <= 31 and 1 <= int(month) <= 12):
        return m.group(0)
    words = f"{m.group(1) or 'ngày '}{read_number(int(first))} đến "
    words += f"{read_number(int(last))} tháng {_month(int(month))}"
    if year:
        words += f" năm {read_number(int(year) + (2000 if len(year) == 2 else 0))}"
    return words


def _fraction(m: re.Match[str]) -> str:
    """a/b as "a phần b" where the words beside it, or the numbers, say it is no date."""
    cue, space, top, bottom, after = m.group(1), m.group(2), m.group(3), m.group(4), m.group(5)
    not_a_date = not (1 <= int(top) <= 31 and 1 <= int(bottom) <= 12)
    if not (cue or after or not_a_date) or int(bottom) == 0:
        return m.group(0)
    said = f"{read_number(int(top))} phần {read_number(int(bottom))}"
    return f"{cue}{space}{said}" if cue else said


def _per(unit: str) -> str:
    return PER_UNITS[unit]


def _abbreviations(text: str, lexicon: Mapping[str, str]) -> str:
    if not lexicon:
        return text
    words = sorted(lexicon, key=len, reverse=True)
    pattern = re.compile(r"(?<![\wÀ-ỹ])(" + "|".join(re.escape(w) for w in words) + r")(?![\wÀ-ỹ])")
    return pattern.sub(lambda m: lexicon[m.group(1)], text)


def normalise(text: str, lexicon: Mapping[str, str] | None = None) -> str:
    """``text`` with every number, time, date, phone number, unit and known abbreviation
    written out; no digit is left (a test holds every rule to that)."""
    table = {**ABBREVIATIONS, **(lexicon or {})}
    text = unicodedata.normalize("NFC", text)
    text = _CODE.sub(" ", text)
    text = _abbreviations(text, table)
    text = _CALLED.sub(lambda m: f"{m.group(1)}{m.group(2)}{read_phone(m.group(3))}", text)
    text = _PHONE.sub(_phone, text)
    text = _SCORE.sub(
        lambda m: (
            f"{m.group(1)}{m.group(2)}{read_number(int(m.group(3)))} {read_number(int(m.group(4)))}"
        ),
        text,
    )
    text = _DAY_RANGE.sub(_day_range, text)
    text = _FRACTION.sub(_fraction, text)
    text = _DATE.sub(_dates, text)
    text = _TIME_RANGE.sub(lambda m: f"{m.group(1)} đến ", text)
    text = _CLOCK.sub(
        lambda m: _time(m.group(1), m.group(2)) if int(m.group(1)) < 24 else m.group(0), text
    )
    text = _HOURS.sub(
        lambda m: _time(m.group(1), m.group(2)) if int(m.group(1)) < 24 else m.group(0), text
    )
    text = _ORDINAL.sub(
        lambda m: (
            f"{m.group(1)} "
            + (
                {"1": "nhất", "4": "tư"}.get(m.group(2).lstrip("0"), read_number(int(m.group(2))))
                if m.group(1).lower() == "thứ"
                else _month(int(m.group(2)))
            )
        ),
        text,
    )
    text = _RANGE.sub(lambda m: f"{_number_words(m.group(1))} đến ", text)
    text = _NEGATIVE.sub("âm ", text)
    text = _MONEY_UNIT.sub(
        lambda m: (
            f"{_number_words(m.group(1))} đồng" + (f" một {_per(m.group(2))}" if m.group(2) else "")
        ),
        text,
    )
    text = _UNIT_PER.sub(
        lambda m: f"{_number_words(m.group(1))} {_COUNTED[m.group(2)]} trên {_per(m.group(3))}",
        text,
    )
    text = _UNIT.sub(lambda m: f"{_number_words(m.group(1))} {UNITS[m.group(2)]}", text)
    text = _ANY_NUMBER.sub(lambda m: _number_words(m.group(0)), text)
    text = re.sub(r"\d", lambda m: f" {DIGITS[int(m.group(0))]} ", text)  # any digit left
    text = "".join(_SYMBOLS.get(c, c) for c in text)
    # a dash between words (not inside one, "KT-XH") is a pause
    text = re.sub(r"\s*[-–−]+\s*(?![\wÀ-ỹ])|(?<![\wÀ-ỹ])\s*[-–−]+\s*", ", ", text)
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    return re.sub(r"^[,\s]+|[,\s]+$", "", text) if text.strip(", ") else text.strip()
