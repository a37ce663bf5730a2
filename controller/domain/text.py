"""Text as people type it on a phone: without accents. Pure."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """Lower case without accents ("Tiêm phòng Đợt 2" → "tiem phong dot 2"), for searching
    and for codes made from names."""
    plain = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in plain if not unicodedata.combining(c)).lower()
