"""An agent whose storage fills up (a real, tiny tmpfs as its data dir): a command it cannot
remember is refused and the refusal reaches the controller from memory, health says the real
free space, and a disk_low alarm is raised — and cleared once there is room again."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.stack import Stack, wait_for


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "sd"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (root needed): {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(directory: Path) -> Path:
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 4096, 1):  # to the last byte
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_refuses_the_command_says_so_and_raises_an_alarm(
    stack: Stack, small_disk, speech_wav
):
    stack.add_zone("thon-dong")
    stack.register(
        "loa-1",
        ["thon-dong"],
        data_dir=str(small_disk / "agent"),
        health_interval_s=1,
        disk_low_mb=2,
    )
    stack.start_agent("loa-1")
    media = stack.upload(speech_wav)
    wait_for(
        lambda: stack.api.get("/api/devices/loa-1").json()["status"] == "online", what="online"
    )
    filler = _fill(small_disk)
    try:
        b = stack.broadcast(media["sha256"], ["zone:thon-dong"])
        d = stack.wait_states(b["id"], {"failed"}, timeout=60)["deliveries"][0]
        # the command refused (its state cannot be written), or, when the small state file
        # still fits in the filesystem's slack, the audio that cannot be stored: said at once
        assert d["reason"] == "refused: disk_full" or d["reason"].startswith("disk_full"), d
        alarms = wait_for(
            lambda: [a for a in stack.alarms() if a["code"] == "disk_low"], what="disk_low alarm"
        )
        assert alarms[0]["device_id"] == "loa-1"
        assert alarms[0]["cleared_at"] is None

        def free_reported() -> int | None:
            health = stack.api.get("/api/devices/loa-1").json().get("last_health") or {}
            return health.get("disk_free_mb")

        wait_for(lambda: free_reported() == 0, what="health says the disk is full")
        assert stack.output_files("loa-1") == []  # nothing played
    finally:
        os.unlink(filler)
    wait_for(
        lambda: [
            a for a in stack.alarms() if a["code"] == "disk_low" and a["cleared_at"] is not None
        ],
        timeout=30,
        what="alarm cleared",
    )
    b = stack.broadcast(media["sha256"], ["zone:thon-dong"])  # room again: it plays
    stack.wait_states(b["id"], {"played"}, timeout=60)
