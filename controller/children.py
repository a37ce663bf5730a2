"""Child processes the controller runs (Mosquitto, Icecast): stopped the same careful way."""

from __future__ import annotations

import subprocess


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
