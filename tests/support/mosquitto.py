"""A real Mosquitto on a free port, from the controller's own generated config, restartable on
the same port."""

from __future__ import annotations

import os
import random
import socket
import time
from pathlib import Path
from typing import Any

from controller.broker.mosquitto import MosquittoBroker, mosquitto_binary


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_PORTS_FROM = 10000
_SLICES = 8  # test workers with a range each
_given: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, for a server started next. Below the kernel's ephemeral
    range, so no outgoing connection takes it before the server binds (a port from bind(0)
    once went to another test's connection in that gap), and in this test worker's own slice,
    so two workers never pick the same one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) % _SLICES if worker[2:].isdigit() else 0
    span = (_ephemeral_low() - _PORTS_FROM) // _SLICES
    low = _PORTS_FROM + index * span
    for _ in range(4 * span):
        port = low + random.randrange(span)
        if port in _given:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    raise RuntimeError(f"no free port in {low}-{low + span}")


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port}")


class Mosquitto(MosquittoBroker):
    """Without persistence by default: a restart is a broker that lost everything."""

    def __init__(
        self, workdir: Path, port: int | None = None, persistence: bool = False, **options: Any
    ):
        if mosquitto_binary() is None:
            raise RuntimeError("mosquitto is not installed (run ./run test to install it)")
        super().__init__(
            workdir, "127.0.0.1", port or free_port(), persistence=persistence, **options
        )

    def start(self, timeout: float = 10.0) -> Mosquitto:  # type: ignore[override]
        super().start(timeout)
        return self

    def restart(self, downtime: float = 0.5) -> None:
        self.stop()
        time.sleep(downtime)
        self.start()
