"""``loalang schedules check`` and ``plan`` on files: the shipped examples and broken ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from controller.schedules.files import json_schema

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "loalang.cli", "schedules", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_shipped_examples_pass_and_preview():
    ok = _cli("check", "schedules")
    assert ok.returncode == 0, ok.stderr
    plan = _cli("plan", "schedules", "--days", "8", "--zone", "thon-dong")
    assert plan.returncode == 0
    lines = plan.stdout.splitlines()
    assert sum("buoi-sang" in line for line in lines) == 8
    assert any("ban-tin-suc-khoe" in line and line.startswith("T2") for line in lines)


def test_published_json_schema_is_current():
    published = json.loads((ROOT / "schedules" / "schema.json").read_text())
    assert published == json.loads(json.dumps(json_schema()))


BROKEN = """\
timezone: Asia/Ho_Chi_Minh
quiet_hours:
  - start: "21:00"
    end: "05:00"
schedules:
  - name: sang
    targets: [all]
    start: "05:30"
    rrule: FREQ=DAILY
    programme:
      - relay: http://vov.example/1
        duration_s: 600
  - name: chen-ngang
    targets: [all]
    start: "05:35"
    rrule: FREQ=DAILY
    programme:
      - relay: http://vov.example/2
        duration_s: 60
  - name: nua-dem
    targets: [zone:thon-dong]
    start: "03:15"
    rrule: FREQ=DAILY
    programme:
      - relay: http://vov.example/1
        duration_s: 60
"""


def test_problems_are_reported_with_file_and_line(tmp_path):
    path = tmp_path / "lich.yaml"
    path.write_text(BROKEN)
    out = _cli("check", str(path))
    assert out.returncode == 1
    assert f"{path}:13: [chen-ngang] overlaps 'sang'" in out.stderr
    assert f"{path}:20: [nua-dem] plays at" in out.stderr
    assert "quiet hours" in out.stderr


def test_invalid_files_point_at_the_line(tmp_path):
    bad_field = tmp_path / "a.yaml"
    bad_field.write_text(BROKEN.replace('    start: "05:35"', '    start: "25:99"'))
    out = _cli("check", str(bad_field))
    assert out.returncode == 1
    assert f"{bad_field}:15: schedules.1.start" in out.stderr
    not_yaml = tmp_path / "b.yaml"
    not_yaml.write_text("schedules:\n  - name: [unclosed\n")
    out = _cli("check", str(not_yaml))
    assert out.returncode == 1
    assert f"{not_yaml}:3: not valid YAML" in out.stderr
    unknown = tmp_path / "c.yaml"
    unknown.write_text(
        BROKEN.replace(
            "    rrule: FREQ=DAILY\n    programme:\n      - relay: http://vov.example/2",
            "    rrule: FREQ=DAILY\n    "
            "colour: red\n    programme:\n      - relay: "
            "http://vov.example/2",
        )
    )
    out = _cli("check", str(unknown))
    assert out.returncode == 1
    assert f"{unknown}:17: schedules.1.colour: Extra inputs" in out.stderr
