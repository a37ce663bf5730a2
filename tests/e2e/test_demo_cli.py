"""The README's demo command and the broadcaster's CLI, as separate processes."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.support.demo import running_demo
from tests.support.stack import wait_for


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "loalang.cli", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_demo_runs_and_the_cli_broadcasts_to_its_three_villages(tmp_path):
    with running_demo(tmp_path) as demo:
        data, env = demo.data, demo.env
        sample = data / "ban-tin-mau.wav"
        assert sample.exists()
        accounts = data / "demo-accounts.txt"  # one login per role, random passwords
        assert accounts.stat().st_mode & 0o077 == 0
        assert [line.split()[2] for line in accounts.read_text().splitlines()] == [
            "broadcaster", "approver", "technician", "admin"]

        sent = _cli("broadcast", str(sample), "--to", "thon-dong,thon-tay,ban-na", "--wait",
                    env=env)
        assert sent.returncode == 0, sent.stderr + sent.stdout
        assert sent.stdout.count(" played ") == 3, sent.stdout
        broadcast_id = re.search(r"(b-[0-9a-f]{12})", sent.stdout).group(1)

        status = _cli("broadcast", "status", broadcast_id, env=env)
        assert status.returncode == 0 and '"played": 3' in status.stdout
        devices = _cli("device", "list", env=env)
        assert devices.stdout.count("online") == 3
        # the demo's simulated board in bản Nà has a dead speaker line: the technician sees it
        def alarm_listed():
            out = _cli("alarms", env=env).stdout
            return "speaker_line:1" in out and out
        # reported after the play; on a loaded machine a report whose receipt came late is
        # sent again only after receipt_timeout_s (20 s ±50 %)
        listed = wait_for(alarm_listed, timeout=90, interval=1, what="the dead line alarm")
        alarm_id = re.search(r"#(\d+)\s+loa-na-1\s+speaker_line:1", listed).group(1)
        ack = _cli("alarms", "ack", alarm_id, "--by", "Minh", env=env)
        assert ack.returncode == 0 and "acknowledged by Minh" in ack.stdout
        assert "ack by Minh" in _cli("alarms", env=env).stdout
        stopped = _cli("stop", "--to", "all", "--reason", "thử", env=env)
        assert stopped.returncode == 0 and "3 device(s)" in stopped.stdout
        for device in ("loa-dong-1", "loa-tay-1", "loa-na-1"):
            assert list((data / "agents" / device / "output").glob("*.wav"))

        past = _cli("broadcast", str(sample), "--to", "thon-dong", "--at", "2020-01-01 03:15",
                    env=env)
        assert past.returncode == 1 and "past" in past.stderr
        bad = _cli("broadcast", str(tmp_path / "missing.wav"), "--to", "thon-dong", env=env)
        assert bad.returncode == 1 and "no such file" in bad.stderr
        nonsense = tmp_path / "notes.mp3"
        nonsense.write_text("không phải âm thanh")
        refused = _cli("broadcast", str(nonsense), "--to", "thon-dong", env=env)
        assert refused.returncode == 1 and "upload.not_audio" in refused.stderr
    assert not [p for p in (data / "agents").glob("*.log") if b"Traceback" in p.read_bytes()]
