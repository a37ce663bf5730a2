"""``loalang cap check`` says what the controller would do with an alert, by the very decision
``POST /api/cap`` takes (``controller/cap/decision.py``), in words and an exit code a script can
act on: 0 would sound, 1 would be refused, 3 would only be logged, 4 would cancel earlier
alerts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cap import cap_alert

ROOT = Path(__file__).resolve().parents[2]


def _check(path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOALANG_")}
    return subprocess.run(
        [sys.executable, "-m", "loalang.cli", "cap", "check", str(path), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={**clean, **env},
    )


def _file(tmp_path: Path, **alert: str) -> Path:
    path = tmp_path / "alert.xml"
    path.write_bytes(cap_alert(**alert))  # type: ignore[arg-type]
    return path


def test_the_shipped_example_would_sound_as_an_emergency():
    out = _check(ROOT / "examples" / "cap" / "bao-so-9.xml", "--at", "2026-12-01T15:00:00+07:00")
    assert out.returncode == 0, out.stderr + out.stdout
    assert "Immediate/Extreme/Observed → emergency, lặp mỗi / every 120 min" in out.stdout
    assert "geocode xa=VN-XA-0001" in out.stdout
    assert "→ SẼ PHÁT / WOULD SOUND: khẩn cấp, phát ngay / emergency" in out.stdout


@pytest.mark.parametrize(
    ("alert", "args", "code", "words"),
    [
        (dict(), (), 0, "WOULD SOUND"),
        (dict(expires="2025-12-01T20:00:00+07:00"), (), 1, "WOULD BE REFUSED: hết hạn"),
        (dict(status="Test"), (), 3, "WOULD ONLY BE LOGGED: status Test, no test village"),
        (dict(status="Test"), ("--feed", "kttv"), 0, "WOULD SOUND: thử tại / test in thon-thu"),
        (dict(status="Draft"), (), 3, "WOULD ONLY BE LOGGED: status Draft"),
        (dict(severity="Minor", certainty="Unlikely"), (), 3, "the rules ignore it"),
        (
            dict(
                msg_type="Cancel",
                references="kttv@nchmf.gov.vn,VN-KTTV-2026-0090,2026-12-01T12:00:00+07:00",
            ),
            (),
            4,
            "WOULD CANCEL EARLIER ALERTS",
        ),
        (
            dict(
                msg_type="Update",
                references="kttv@nchmf.gov.vn,VN-KTTV-2026-0090,2026-12-01T12:00:00+07:00",
            ),
            (),
            0,
            "cancels the alerts it updates",
        ),
        (dict(severity="Moderate", urgency="Future", certainty="Likely"), (), 0, "advisory"),
    ],
)
def test_each_outcome_in_words_and_its_exit_code(tmp_path, alert, args, code, words):
    feeds = json.dumps({"kttv": {"token": "t" * 20, "test_zone": "thon-thu"}})
    out = _check(
        _file(tmp_path, **alert),
        "--at",
        "2026-12-01T15:00:00+07:00",
        *args,
        LOALANG_CAP_FEEDS=feeds,
    )
    assert out.returncode == code, out.stdout + out.stderr
    assert words in out.stdout + out.stderr


def test_a_malformed_alert_would_be_refused_naming_the_element(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_bytes(cap_alert(msg_type="Cancel"))  # a Cancel must name what it cancels
    out = _check(bad)
    assert out.returncode == 1
    assert "alert/references" in out.stderr
    assert "WOULD BE REFUSED" in out.stderr


def test_the_same_decision_as_the_server_for_the_same_alert_and_time():
    """One function for both: the decision the CLI prints is what the service acts on."""
    from datetime import datetime

    from controller.cap.alert import parse
    from controller.cap.decision import Verdict, decide
    from controller.cap.rules import DEFAULT_RULES

    at = datetime.fromisoformat("2026-12-01T15:00:00+07:00")
    assert decide(parse(cap_alert(status="Exercise")), at, DEFAULT_RULES).verdict == Verdict.log
    assert (
        decide(parse(cap_alert(status="Exercise")), at, DEFAULT_RULES, "thon-thu").action == "test"
    )
    later = datetime.fromisoformat("2031-01-01T00:00:00+07:00")
    assert decide(parse(cap_alert()), later, DEFAULT_RULES).verdict == Verdict.refuse
