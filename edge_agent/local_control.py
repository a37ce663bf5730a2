"""The receiver's local control: a tiny HTTP server on the loopback that its buttons (or the
maker's firmware, or the demo's simulated household) call. Never on the network: nothing in it
is signed, and it can only turn this one receiver down or off — never make it play.

    GET  /            {"volume": 50, "on": true}
    POST /volume      {"level": 0..100}
    POST /power       {"on": true|false}
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .household import Household

log = logging.getLogger(__name__)

MAX_BODY = 256


class LocalControl:
    """Serves ``household`` on 127.0.0.1:``port`` (0: a free port, read back from ``port``)."""

    def __init__(self, household: Household, port: int, host: str = "127.0.0.1"):
        self.household = household
        self._server = ThreadingHTTPServer((host, port), _handler(household))
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="local-control", daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        log.info("local control on 127.0.0.1:%d", self.port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(household: Household) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            log.debug("local control: " + format, *args)

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _state(self) -> dict[str, Any]:
            return {"volume": household.volume, "on": household.on}

        def do_GET(self) -> None:
            if self.path != "/":
                self._answer(404, {"error": "không có / not found"})
                return
            self._answer(200, self._state())

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 < length <= MAX_BODY:
                    raise ValueError("thân yêu cầu rỗng hoặc quá lớn / empty or too large body")
                body = json.loads(self.rfile.read(length))
                if not isinstance(body, dict):
                    raise ValueError("cần một đối tượng JSON / a JSON object is needed")
                if self.path == "/volume":
                    level = body.get("level")
                    if not isinstance(level, int) or isinstance(level, bool):
                        raise ValueError("level: số nguyên 0–100 / an integer 0–100")
                    if not 0 <= level <= 100:
                        raise ValueError("level: 0–100")
                    household.set(volume=level)
                elif self.path == "/power":
                    on = body.get("on")
                    if not isinstance(on, bool):
                        raise ValueError("on: true hoặc false / true or false")
                    household.set(on=on)
                else:
                    self._answer(404, {"error": "không có / not found"})
                    return
            except (ValueError, UnicodeDecodeError) as exc:
                self._answer(400, {"error": str(exc)})
                return
            except OSError as exc:  # the state could not be kept: say so, change nothing more
                self._answer(500, {"error": f"không lưu được / not kept: {exc}"})
                return
            self._answer(200, self._state())

    return Handler
