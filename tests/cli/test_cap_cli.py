"""``loalang cap check``: a valid alert is described with what the rules would do; an invalid
one exits 1 naming the element."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.cap import cap_alert

ROOT = Path(__file__).resolve().parents[2]


def _check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loalang.cli", "cap", "check", str(path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_the_shipped_example_is_valid_and_would_be_an_emergency():
    out = _check(ROOT / "examples" / "cap" / "bao-so-9.xml")
    assert out.returncode == 0, out.stderr
    assert "Immediate/Extreme/Observed → emergency, lặp mỗi / every 120 min" in out.stdout
    assert "geocode xa=VN-XA-0001" in out.stdout


def test_an_invalid_alert_exits_1_naming_the_element(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_bytes(cap_alert(msg_type="Cancel"))
    out = _check(bad)
    assert out.returncode == 1 and "alert/references" in out.stderr
