"""The README's demo command and the broadcaster's CLI, as separate processes."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.support.demo import running_demo
from tests.support.stack import wait_for


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "loalang.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_demo_runs_and_the_cli_broadcasts_to_its_three_villages(tmp_path):
    with running_demo(tmp_path) as demo:
        data, env = demo.data, demo.env
        sample = data / "ban-tin-mau.wav"
        assert sample.exists()
        accounts = data / "demo-accounts.txt"  # one login per role, random passwords
        assert accounts.stat().st_mode & 0o077 == 0
        assert [line.split()[2] for line in accounts.read_text().splitlines()] == [
            "broadcaster",
            "approver",
            "technician",
            "admin",
        ]

        sent = _cli(
            "broadcast", str(sample), "--to", "thon-dong,thon-tay,ban-na", "--wait", env=env
        )
        assert sent.returncode == 0, sent.stderr + sent.stdout
        # three clusters and the home receiver in Thôn Đông
        assert sent.stdout.count(" played ") == 4, sent.stdout
        broadcast_id = re.search(r"(b-[0-9a-f]{12})", sent.stdout).group(1)

        # each cluster's simulated microphone heard it: the home page has the heard map
        def heard() -> bool:
            with demo.api() as api:
                got = api.get(f"/api/broadcasts/{broadcast_id}").json()["deliveries"]
            clusters = [d for d in got if d["device_id"].startswith("loa-")]  # (microphones)
            return all((d.get("hearing") or {}).get("verdict") for d in clusters)

        wait_for(heard, timeout=60, interval=1, what="the microphones' verdicts")
        with demo.api() as api:
            assert 'id="heard-map"' in api.get("/ui/").text

        # the packaged Piper voice is installed; Thôn Đông's homestays hear English too
        assert "piper:en_US-joe-medium" in _cli("speech", "voice", "list", env=env).stdout
        english = _cli(
            "broadcast",
            "--text",
            "The water will be cut on Sunday morning.",
            "--language",
            "en",
            "--to",
            "thon-dong",
            "--wait",
            env=env,
        )
        assert english.returncode == 0, english.stderr + english.stdout
        assert english.stdout.count(" played ") == 2, english.stdout  # its cluster and receiver

        status = _cli("broadcast", "status", broadcast_id, env=env)
        assert status.returncode == 0
        assert '"played": 4' in status.stdout
        devices = _cli("device", "list", env=env)
        assert devices.stdout.count("online") == 4
        # the demo's channel process recorded it in the archive
        with demo.api() as api:
            day = api.get("/api/archive").json()
        assert day["channel_running"]
        assert day["files"]
        assert broadcast_id in [a["id"] for a in day["aired"]]

        # the demo's simulated board in bản Nà has a dead speaker line: the technician sees it
        def alarm_listed():
            out = _cli("alarms", env=env).stdout
            return "speaker_line:1" in out and out

        # reported after the play; on a loaded machine a report whose receipt came late is
        # sent again only after receipt_timeout_s (20 s ±50 %)
        listed = wait_for(alarm_listed, timeout=90, interval=1, what="the dead line alarm")
        alarm_id = re.search(r"#(\d+)\s+loa-na-1\s+speaker_line:1", listed).group(1)
        ack = _cli("alarms", "ack", alarm_id, "--by", "Minh", env=env)
        assert ack.returncode == 0
        assert "acknowledged by Minh" in ack.stdout
        assert "ack by Minh" in _cli("alarms", env=env).stdout
        stopped = _cli("stop", "--to", "all", "--reason", "thử", env=env)
        assert stopped.returncode == 0
        assert "4 device(s)" in stopped.stdout
        for device in ("loa-dong-1", "loa-tay-1", "loa-na-1"):
            assert list((data / "agents" / device / "output").glob("*.wav"))

        past = _cli(
            "broadcast", str(sample), "--to", "thon-dong", "--at", "2020-01-01 03:15", env=env
        )
        assert past.returncode == 1
        assert "past" in past.stderr
        bad = _cli("broadcast", str(tmp_path / "missing.wav"), "--to", "thon-dong", env=env)
        assert bad.returncode == 1
        assert "no such file" in bad.stderr
        nonsense = tmp_path / "notes.mp3"
        nonsense.write_text("không phải âm thanh")
        refused = _cli("broadcast", str(nonsense), "--to", "thon-dong", env=env)
        assert refused.returncode == 1
        assert "upload.not_audio" in refused.stderr
    assert not [p for p in (data / "agents").glob("*.log") if b"Traceback" in p.read_bytes()]
    assert b"Traceback" not in (data / "channel.log").read_bytes()


def test_the_demo_on_taken_ports_after_a_kill_and_a_failed_start(tmp_path):
    """Every port is an option: one given and taken is a one-line error naming it; the usual
    one taken is replaced by a free one. A demo killed with -9 takes its broker and agents with
    it, and a new one on the same folder starts (the old Icecast stopped). A start that fails
    once its broker and Icecast run leaves no process behind."""
    import os
    import signal
    import socket

    from tests.support.demo import Demo, _all_online, demo_process, processes_of
    from tests.support.mosquitto import free_port

    data = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOALANG_")}
    ports = {"http-port": free_port(), "mqtt-port": free_port(), "icecast-port": free_port()}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        refused = _cli(
            "demo",
            "--data-dir",
            str(data),
            "--http-port",
            str(busy),
            "--mqtt-port",
            str(ports["mqtt-port"]),
            env=env,
        )
        assert refused.returncode == 1
        assert refused.stderr.strip() == (
            f"loalang demo: port {busy} is already in use: choose another with --http-port"
        )
        assert "Traceback" not in refused.stdout + refused.stderr
        assert processes_of(data) == []
        # the usual HTTPS port (here through the environment) taken: a free one instead
        demo = Demo(base=f"http://127.0.0.1:{ports['http-port']}", data=data, env=env)
        log = tmp_path / "demo.log"
        first = demo_process(data, ports, log, {**env, "LOALANG_HTTPS_PORT": str(busy)})
        try:
            wait_for(lambda: _all_online(demo), timeout=180, what="the demo online")
            assert f"port {busy} is in use; the demo takes" in log.read_text()
            assert any("mosquitto" in p for p in processes_of(data))
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
            left: list[str] = []

            def gone() -> bool:
                left[:] = [p for p in processes_of(data) if "icecast" not in p]
                return not left

            try:
                wait_for(gone, timeout=30, what="broker and agents gone with the killed demo")
            except AssertionError as exc:
                raise AssertionError(f"{exc}; still running: {left}") from None
        finally:
            if first.poll() is None:
                first.kill()
    # started as in the background (SIGINT ignored): Ctrl-C must still stop it
    second = demo_process(data, ports, log, env, background=True)
    try:
        wait_for(lambda: _all_online(demo), timeout=180, what="the demo online again")
        running = processes_of(data)
        assert len([p for p in running if "edge_agent" in p]) == 4, running
        assert len([p for p in running if "mosquitto -c" in p]) == 1, running
        assert len([p for p in running if "icecast2" in p]) == 1, running
        again = _cli("demo", "--data-dir", str(data), "--http-port", str(free_port()), env=env)
        assert again.returncode == 1
        assert "a demo already runs on" in again.stderr
    finally:
        os.killpg(second.pid, signal.SIGINT)
        second.wait(timeout=60)
    wait_for(lambda: processes_of(data) == [], timeout=30, what="nothing left after Ctrl-C")
    # a start that fails after its broker and Icecast are up (a device's config gone)
    (data / "agents" / "loa-na-1.toml").unlink()
    failed = _cli(
        "demo",
        "--data-dir",
        str(data),
        *[a for o, p in ports.items() for a in (f"--{o}", str(p))],
        env=env,
    )
    assert failed.returncode == 1
    assert "loa-na-1" in failed.stderr.strip().splitlines()[-1]
    assert processes_of(data) == []
