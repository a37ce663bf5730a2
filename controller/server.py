"""Serve the app from a background thread (demo, tests, benchmarks)."""

from __future__ import annotations

import threading
import time
from typing import Any


class ServerThread:
    """uvicorn in a background thread; the app's lifespan starts the controller's services."""

    def __init__(self, app: Any, host: str, port: int):
        import uvicorn

        self.app = app
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port,
                                                    log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, name="http", daemon=True)

    def start(self, timeout: float = 30) -> None:
        self.thread.start()
        deadline = time.time() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.time() > deadline:
                raise RuntimeError("controller HTTP server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
