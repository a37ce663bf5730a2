"""Text as people type it on a phone: without accents. Pure."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection


def fold(text: str) -> str:
    """Lower case without accents ("Tiêm phòng Đợt 2" → "tiem phong dot 2"), for searching
    and for codes made from names."""
    plain = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in plain if not unicodedata.combining(c)).lower()


def code_from_name(name: str, taken: Collection[str] = (), limit: int = 64) -> str:
    """A code people never type, made from a name: "Thôn Đông" → "thon-dong" (and
    "thon-dong-2" when that is taken), cut between words to fit; "x" when the name has no
    letter or digit."""
    full = re.sub(r"[^a-z0-9]+", "-", fold(name)).strip("-")
    base = full[: limit - 4]
    if len(full) > len(base) and full[len(base)] != "-" and "-" in base:
        base = base.rsplit("-", 1)[0]  # cut between words, not inside one
    base = base.strip("-") or "x"
    code, n = base, 1
    while code in taken:
        n += 1
        code = f"{base}-{n}"
    return code
