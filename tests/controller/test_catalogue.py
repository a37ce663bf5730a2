"""The one catalogue of user-facing text: every key defined once, every entry in Vietnamese and
English, and every key the code and the pages name exists."""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

from controller.i18n import LANGUAGES, has, translate
from controller.i18n.messages import MESSAGES
from controller.i18n.ui import UI

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = [ROOT / "controller" / "i18n" / "messages.py", ROOT / "controller" / "i18n" / "ui.py"]
ERRORS = (
    "Invalid|NotFound|Conflict|NotAllowed|Unauthenticated|Locked|TooLarge|Unsupported|"
    "Unavailable|DomainError"
)


def _literal_keys(path: Path) -> list[str]:
    """Every key written in the file's dict literals, duplicates kept (a Python dict literal
    silently keeps the last of two)."""
    keys = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Dict):
            keys += [
                k.value
                for k in node.keys
                if isinstance(k, ast.Constant) and isinstance(k.value, str) and "." in k.value
            ]
    return keys


def test_no_key_is_defined_twice():
    keys = [k for path in CATALOGUES for k in _literal_keys(path)]
    twice = sorted(k for k, n in Counter(keys).items() if n > 1)
    assert twice == []
    assert not set(MESSAGES) & set(UI)


def test_every_entry_speaks_vietnamese_and_english_with_the_same_placeholders():
    for key, entry in {**MESSAGES, **UI}.items():
        assert set(entry) == set(LANGUAGES), key
        assert all(entry[lang].strip() for lang in LANGUAGES), key
        fields = [set(re.findall(r"{(\w+)}", entry[lang])) for lang in LANGUAGES]
        assert fields[0] == fields[1], key


def test_every_key_the_code_and_the_pages_name_exists():
    named: set[str] = set()
    for path in [*ROOT.glob("controller/**/*.py"), *ROOT.glob("loalang/**/*.py")]:
        text = path.read_text()
        named |= set(re.findall(rf'\b(?:{ERRORS})\("([a-z_]+\.[a-z0-9_.]+)"', text))
        named |= set(re.findall(r'\btranslate\("([a-z_]+\.[a-z0-9_.]+)"', text))
    for path in ROOT.glob("controller/web/templates/*.html"):
        named |= set(re.findall(r'\bt\("([a-z_]+\.[a-z0-9_.]+)"', path.read_text()))
    assert len(named) > 150
    prefixes = {k for k in named if k.endswith(".")}  # t("alarm." + code): some key each
    missing = sorted(k for k in named - prefixes if not has(k))
    assert missing == []
    every = {**MESSAGES, **UI}
    assert [p for p in sorted(prefixes) if not any(k.startswith(p) for k in every)] == []
    assert translate("auth.locked", "en", minutes=3).endswith("unlock the name).")
