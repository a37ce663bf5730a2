"""The agent's update layout on disk: the guard systemd runs before each start leaves a
release under trial that keeps crashing, and the switch is one rename."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from edge_agent.update import (
    MAX_STARTS,
    Releases,
    UpdateRecord,
    UpdateState,
    guard,
    read_record,
    wheel_name,
    write_record,
)
from protocol.messages import UpdateCommand, utcnow


def _trial(tmp_path: Path, deadline_s: float = 600) -> tuple[Releases, Path]:
    releases = Releases(tmp_path / "releases")
    for version in ("0.1.0", "0.2.0"):
        (releases.root / version / "bin").mkdir(parents=True)
    releases.point(releases.previous, releases.root / "0.1.0")
    releases.point(releases.current, releases.root / "0.2.0")
    record = tmp_path / "update.json"
    write_record(
        record,
        UpdateRecord(
            cmd_id="c-1",
            version="0.2.0",
            from_version="0.1.0",
            from_path=str(releases.root / "0.1.0"),
            to_path=str(releases.root / "0.2.0"),
            state=UpdateState.trying,
            deadline=utcnow() + timedelta(seconds=deadline_s),
        ),
    )
    return releases, record


def test_links_are_relative_and_switched_in_one_rename(tmp_path: Path) -> None:
    releases, _ = _trial(tmp_path)
    assert os.readlink(releases.current) == "0.2.0"  # the tree may move (a new SD card)
    assert releases.current.resolve() == (releases.root / "0.2.0").resolve()
    assert not list(releases.root.glob(".*.new"))


def test_a_crash_loop_goes_back_after_the_allowed_starts(tmp_path: Path) -> None:
    releases, record = _trial(tmp_path)
    for _ in range(MAX_STARTS):
        assert guard(record, releases) is None
        assert releases.current.resolve().name == "0.2.0"
    assert guard(record, releases) == "crashed"
    assert releases.current.resolve().name == "0.1.0"
    kept = read_record(record)
    assert kept is not None
    assert kept.state is UpdateState.rolled_back
    assert kept.reason == "crashed"
    assert not kept.reported
    assert guard(record, releases) is None  # nothing under trial any more


def test_a_trial_past_its_deadline_goes_back_at_the_next_start(tmp_path: Path) -> None:
    releases, record = _trial(tmp_path, deadline_s=-1)
    assert guard(record, releases) == "not_online"
    assert releases.current.resolve().name == "0.1.0"


def test_no_record_or_a_broken_one_changes_nothing(tmp_path: Path) -> None:
    releases, record = _trial(tmp_path)
    record.write_text("{not json")
    assert guard(record, releases) is None
    record.unlink()
    assert guard(record, releases) is None
    assert releases.current.resolve().name == "0.2.0"


def test_the_wheel_keeps_the_name_its_url_gives() -> None:
    def cmd(url: str) -> UpdateCommand:
        return UpdateCommand(version="0.2.0", url=url, sha256="0" * 64, size=1)

    assert (
        wheel_name(cmd("/edge/releases/loalang-0.2.0-py3-none-any.whl"))
        == "loalang-0.2.0-py3-none-any.whl"
    )
    assert wheel_name(cmd("/edge/releases/../../etc/passwd")) == "loalang-0.2.0-py3-none-any.whl"
