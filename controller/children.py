"""Child processes the controller runs (Mosquitto, Icecast): stopped the same careful way."""

from __future__ import annotations

import socket
import subprocess
import time


def stop_child(proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    """SIGTERM (it saves what it must keep), SIGKILL if it hangs past ``timeout``."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def listening(host: str, port: int) -> bool:
    """Whether something accepts connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_listening(proc: subprocess.Popen[bytes], host: str, port: int, timeout: float,
                   name: str, logs: str) -> None:
    """Return once the child listens; RuntimeError if it exits or does not within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited at start (see {logs})")
        if listening(host, port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not listen on {host}:{port}")
