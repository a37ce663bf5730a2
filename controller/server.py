"""Serve the app from a background thread (demo, tests, benchmarks)."""

from __future__ import annotations

import threading
import time
from typing import Any

from .settings import Settings
from .tls import TlsFiles, ensure_certificate

KEEP_ALIVE_S = 75
"""Idle connections kept longer than clients keep them (httpx: 5 s, uvicorn's own default
too): a server closing one just as a client reuses it resets the request (a call after a
5 s wait failed so)."""


class ServerThread:
    """uvicorn in a background thread; the app's lifespan starts the controller's services
    (``lifespan="off"`` for a second server of the same app, e.g. its HTTPS face)."""

    def __init__(
        self, app: Any, host: str, port: int, tls: TlsFiles | None = None, lifespan: str = "on"
    ):
        import uvicorn

        self.app = app
        ssl: dict[str, Any] = (
            dict(ssl_certfile=str(tls.cert), ssl_keyfile=str(tls.key)) if tls else {}
        )
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_level="warning",
                lifespan=lifespan,
                timeout_keep_alive=KEEP_ALIVE_S,
                **ssl,
            )
        )
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


def https_server(app: Any, settings: Settings) -> tuple[ServerThread, TlsFiles] | None:
    """The web UI's HTTPS face on the LAN (none when ``https_port`` is 0)."""
    if not settings.https_port:
        return None
    tls = ensure_certificate(
        settings.data_dir / "tls",
        settings.station_name,
        settings.tls_names,
        settings.tls_cert,
        settings.tls_key,
    )
    return ServerThread(app, settings.https_host, settings.https_port, tls, lifespan="off"), tls
