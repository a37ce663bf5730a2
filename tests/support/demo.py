"""``loalang demo`` as its own process, the way a user starts it, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from .mosquitto import free_port
from .stack import wait_for


@dataclass
class Demo:
    base: str
    data: Path
    env: dict[str, str]

    @property
    def token(self) -> str:
        return (self.data / "api-token").read_text().strip()

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base, timeout=60, headers={"Authorization": f"Bearer {self.token}"}
        )


def _all_online(demo: Demo) -> bool:
    """The demo's three clusters and its home receiver."""
    try:
        devices = httpx.get(
            f"{demo.base}/api/devices", headers={"Authorization": f"Bearer {demo.token}"}
        ).json()
    except (OSError, httpx.HTTPError, ValueError):
        return False
    return len(devices) == 4 and all(d["status"] == "online" for d in devices)


@contextmanager
def running_demo(tmp: Path, **env: str) -> Iterator[Demo]:
    """Start the demo on free ports with its data in ``tmp/demo``; yield once its three
    agents are online; stop it with Ctrl-C as a user would."""
    http_port, mqtt_port = free_port(), free_port()
    demo = Demo(
        base=f"http://127.0.0.1:{http_port}",
        data=tmp / "demo",
        env={
            **os.environ,
            "LOALANG_URL": f"http://127.0.0.1:{http_port}",
            "LOALANG_DATA_DIR": str(tmp / "demo"),
            "LOALANG_ICECAST_PORT": str(free_port()),
            "LOALANG_HTTPS_PORT": str(free_port()),
            **env,
        },
    )
    demo.env.pop("LOALANG_TOKEN", None)
    log = open(tmp / "demo.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loalang.cli",
            "demo",
            "--data-dir",
            str(demo.data),
            "--http-port",
            str(http_port),
            "--mqtt-port",
            str(mqtt_port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=demo.env,
        start_new_session=True,
    )  # its agents share its process group
    try:
        wait_for(lambda: _all_online(demo), timeout=180, what="demo agents online")
        yield demo
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        # an agent the demo could not stop in time must not outlive the test: it kept
        # reopening its simulated board's pty by name, and a later test's board got the same
        # /dev/pts number ("multiple access on port")
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        log.close()
    # nothing may have gone wrong quietly in the demo or its agents
    logs = [tmp / "demo.log", *sorted((demo.data / "agents").glob("*.log"))]
    broken = [p.name for p in logs if p.exists() and TRACEBACK in p.read_text(errors="replace")]
    assert not broken, f"tracebacks in {', '.join(broken)} (under {tmp})"


TRACEBACK = "Traceback (most recent call last)"


def stop_agent(demo: Demo, device_id: str, sig: signal.Signals = signal.SIGTERM) -> None:
    """Stop one of the demo's agent processes (by its PID: nothing else is touched)."""
    pid = int((demo.data / "agents" / f"{device_id}.pid").read_text())
    os.kill(pid, sig)


def demo_process(
    data: Path, ports: dict[str, int], log: Path, env: dict[str, str], background: bool = False
) -> subprocess.Popen[bytes]:
    """``loalang demo`` on ``data`` with ``ports`` (option name → port), as its own session;
    ``background``: with SIGINT ignored, as a shell's ``cmd &``, nohup or a CI runner starts it."""
    args = [sys.executable, "-m", "loalang.cli", "demo", "--data-dir", str(data)]
    for option, port in ports.items():
        args += [f"--{option}", str(port)]
    return subprocess.Popen(
        args,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if background else None,
    )


def processes_of(data: Path) -> list[str]:
    """Every running process whose command line names ``data`` (its broker, Icecast, agents)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().split(") ", 1)[1][:1]
        except (OSError, IndexError):
            continue
        if str(data) in cmdline and state != "Z":
            found.append(cmdline.strip())
    return found
