"""Schedules through the controller: apply (idempotent, checked), export, plan preview."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.support.stack import Stack

ROOT = Path(__file__).resolve().parents[2]


def _cli(stack: Stack, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LOALANG_URL": stack.base_url, "LOALANG_TOKEN": stack.services.api_token}
    return subprocess.run(
        [sys.executable, "-m", "loalang.cli", "schedules", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def _write(tmp_path: Path, sha: str, extra: str = "") -> Path:
    path = tmp_path / "lich.yaml"
    path.write_text(f"""\
timezone: Asia/Ho_Chi_Minh
quiet_hours:
  - start: "21:00"
    end: "05:00"
schedules:
  - name: buoi-sang
    title: Buổi sáng
    targets: [zone:thon-dong]
    start: "05:30"
    rrule: FREQ=DAILY
    slot_minutes: 1
    programme:
      - media: {sha}
  - name: suc-khoe
    targets: [device:loa-1]
    start: "18:15"
    rrule: FREQ=WEEKLY;BYDAY=MO
    programme:
      - media: {sha}
{extra}""")
    return path


def _setup(stack: Stack, speech_wav) -> str:
    stack.add_zone("thon-dong")
    stack.add_zone("thon-tay")
    stack.register("loa-1", ["thon-dong"])
    stack.register("loa-2", ["thon-tay"])
    return stack.upload(speech_wav)["sha256"]


def test_apply_is_idempotent_removes_what_the_files_dropped_and_exports(
    stack: Stack, speech_wav, tmp_path
):
    sha = _setup(stack, speech_wav)
    path = _write(tmp_path, sha)
    dry = _cli(stack, "apply", str(path), "--dry-run")
    assert dry.returncode == 0
    assert "+ buoi-sang" in dry.stdout
    assert "dry run" in dry.stdout
    assert stack.api.get("/api/schedules").json()["schedules"] == []

    first = _cli(stack, "apply", str(path))
    assert first.returncode == 0, first.stderr
    assert "+ buoi-sang" in first.stdout
    assert "+ suc-khoe" in first.stdout
    second = _cli(stack, "apply", str(path))
    assert second.returncode == 0
    assert "no changes" in second.stdout

    path.write_text(path.read_text().split("  - name: suc-khoe")[0])
    third = _cli(stack, "apply", str(path))
    assert "- suc-khoe" in third.stdout
    names = [s["name"] for s in stack.api.get("/api/schedules").json()["schedules"]]
    assert names == ["buoi-sang"]

    exported = tmp_path / "export.yaml"
    assert _cli(stack, "export", "--out", str(exported)).returncode == 0
    assert yaml.safe_load(exported.read_text())["schedules"][0]["name"] == "buoi-sang"
    assert _cli(stack, "apply", str(exported)).stdout.strip().endswith("no changes")


def test_apply_refuses_problems_with_file_and_line_and_stores_nothing(
    stack: Stack, speech_wav, tmp_path
):
    sha = _setup(stack, speech_wav)
    clash = """\
  - name: chen-ngang
    targets: [device:loa-1]
    start: "05:30"
    rrule: FREQ=DAILY
    programme:
      - media: {sha}
  - name: thieu-tep
    targets: [zone:thon-tay]
    start: "12:00"
    rrule: FREQ=DAILY
    programme:
      - media: {missing}
""".format(sha=sha, missing="f" * 64)
    path = _write(tmp_path, sha, clash)
    out = _cli(stack, "apply", str(path))
    assert out.returncode == 1
    # loa-1 is in thon-dong: the device schedule clashes with the zone one
    assert f"{path}:20: [chen-ngang] overlaps 'buoi-sang'" in out.stderr
    assert f"{path}:26: [thieu-tep] media ffffffffffff… is not on the controller" in out.stderr
    assert stack.api.get("/api/schedules").json()["schedules"] == []
    check = _cli(stack, "check", str(path), "--url", stack.base_url)
    assert check.returncode == 1
    assert "[chen-ngang]" in check.stderr


def test_plan_shows_what_plays_where(stack: Stack, speech_wav, tmp_path):
    sha = _setup(stack, speech_wav)
    assert _cli(stack, "apply", str(_write(tmp_path, sha))).returncode == 0
    rows = stack.api.get("/api/schedules/plan", params={"days": 7}).json()
    morning = [r for r in rows if r["schedule"] == "buoi-sang"]
    assert len(morning) == 7
    assert all(r["devices"] == ["loa-1"] for r in morning)
    assert all(r["local_start"].endswith("05:30:00") for r in morning)
    assert len([r for r in rows if r["schedule"] == "suc-khoe"]) == 1
    tay = stack.api.get("/api/schedules/plan", params={"days": 7, "zone": "thon-tay"}).json()
    assert tay == []


def test_one_schedule_at_a_time_through_the_api(stack: Stack, speech_wav):
    sha = _setup(stack, speech_wav)
    weekly = {
        "name": "suc-khoe",
        "title": "Sức khoẻ",
        "targets": ["zone:thon-dong"],
        "start": "18:15",
        "rrule": "FREQ=WEEKLY;BYDAY=MO",
        "programme": [{"media": sha}],
    }
    r = stack.api.put("/api/schedules/suc-khoe", json=weekly)
    assert r.status_code == 200
    assert r.json()["added"] == ["suc-khoe"]
    assert stack.api.get("/api/schedules/suc-khoe").json()["start"] == "18:15:00"
    clash = {**weekly, "name": "trung", "targets": ["device:loa-1"]}
    r = stack.api.put("/api/schedules/trung", json=clash)
    assert r.status_code == 422
    assert r.json()["problems"][0]["code"] == "conflict"
    assert stack.api.get("/api/schedules/trung").status_code == 404
    assert stack.api.put("/api/schedules/x", json=weekly).status_code == 422
    assert stack.api.delete("/api/schedules/suc-khoe").json()["removed"] == ["suc-khoe"]
    assert stack.api.get("/api/schedules").json()["schedules"] == []


def test_a_one_off_that_has_played_does_not_block_the_next_edit(stack: Stack, speech_wav):
    """Once its time has passed, a one-off stored earlier never fires again: that is finished,
    not wrong. It once made every later edit fail ("never_fires") until someone deleted it.
    A new one-off in the past is still refused."""
    import time
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from protocol.messages import utcnow

    sha = _setup(stack, speech_wav)
    soon = (utcnow() + timedelta(seconds=3)).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    once = {
        "name": "hop-thon",
        "targets": ["zone:thon-dong"],
        "start": soon.strftime("%H:%M:%S"),
        "date": soon.date().isoformat(),
        "programme": [{"media": sha}],
    }
    assert stack.api.put("/api/schedules/hop-thon", json=once).status_code == 200
    time.sleep(max(0.0, (soon - utcnow()).total_seconds() + 1.5))
    weekly = {
        "name": "suc-khoe",
        "targets": ["zone:thon-tay"],
        "start": "18:15",
        "rrule": "FREQ=WEEKLY;BYDAY=MO",
        "programme": [{"media": sha}],
    }
    r = stack.api.put("/api/schedules/suc-khoe", json=weekly)
    assert r.status_code == 200, r.text
    assert r.json()["added"] == ["suc-khoe"], r.text
    assert stack.api.get("/api/schedules/hop-thon").status_code == 200  # kept, as stored
    past = {**once, "name": "hop-lai"}
    r = stack.api.put("/api/schedules/hop-lai", json=past)
    assert r.status_code == 422
    assert r.json()["problems"][0]["code"] == "never_fires"
