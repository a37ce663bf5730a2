"""A slow link for tests: an HTTP proxy that forwards GETs (Range included) to the controller
and trickles the body out at a set rate, recording what was asked for."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from .mosquitto import free_port


class ThrottledProxy:
    def __init__(self, upstream: str, rate_bps: int = 20_000):
        self.upstream = upstream.rstrip("/")
        self.rate_bps = rate_bps
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.port = free_port()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                rng = self.headers.get("Range")
                proxy.requests.append((self.path, rng))
                headers = {
                    k: v
                    for k, v in (
                        ("Authorization", self.headers.get("Authorization")),
                        ("Range", rng),
                    )
                    if v
                }
                with httpx.stream("GET", proxy.upstream + self.path, headers=headers) as resp:
                    self.send_response(resp.status_code)
                    for key in ("Content-Type", "Content-Length", "Content-Range", "Accept-Ranges"):
                        if key in resp.headers:
                            self.send_header(key, resp.headers[key])
                    self.end_headers()
                    try:
                        for chunk in resp.iter_bytes(2048):
                            self.wfile.write(chunk)
                            self.wfile.flush()
                            time.sleep(len(chunk) / proxy.rate_bps)
                    except (BrokenPipeError, ConnectionResetError):
                        pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThrottledProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
