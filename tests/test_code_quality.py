"""The code passes its linter and formatter, and the pure modules their type check (part of
``./run test``)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_ruff_finds_nothing():
    out = _run("ruff", "check", "--no-cache", ".")
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_code_is_formatted():
    out = _run("ruff", "format", "--check", "--no-cache", ".")
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_pure_modules_type_check():
    """protocol/, the domain rules, plan building and serial framing (``[tool.mypy]``)."""
    out = _run("mypy", "--no-incremental")
    assert out.returncode == 0, out.stdout + out.stderr


def test_tests_share_helpers_only_through_tests_support():
    """A helper imported from another test module drags that module's tests and fixtures
    along and breaks when it is edited for its own sake: shared code lives in tests/support."""
    import re

    crossing = [
        f"{path.relative_to(ROOT)}: {line.strip()}"
        for path in (ROOT / "tests").rglob("*.py")
        for line in path.read_text().splitlines()
        if re.match(r"\s*(from|import) tests\.(?!support\b)", line)
    ]
    assert crossing == []


def test_no_module_grows_past_600_lines():
    """One concept per module: past 600 lines a module holds two (the message catalogue and
    the database models are lists, and exempt)."""
    exempt = {"controller/i18n/ui.py", "controller/i18n/messages.py", "controller/db/models.py"}
    long = [
        f"{path.relative_to(ROOT)}: {lines} lines"
        for package in ("controller", "loalang", "edge_agent", "protocol", "firmware_bridge")
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
        and str(path.relative_to(ROOT)) not in exempt
        and (lines := len(path.read_text().splitlines())) > 600
    ]
    assert long == []
