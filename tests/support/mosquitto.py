"""A real Mosquitto on a free port, from the controller's own generated config, restartable on
the same port."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

from controller.broker.mosquitto import MosquittoBroker, mosquitto_binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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

    def __init__(self, workdir: Path, port: int | None = None, persistence: bool = False,
                 **options: Any):
        if mosquitto_binary() is None:
            raise RuntimeError("mosquitto is not installed (run ./run test to install it)")
        super().__init__(workdir, "127.0.0.1", port or free_port(), persistence=persistence,
                         **options)

    def start(self, timeout: float = 10.0) -> Mosquitto:  # type: ignore[override]
        super().start(timeout)
        return self

    def restart(self, downtime: float = 0.5) -> None:
        self.stop()
        time.sleep(downtime)
        self.start()
