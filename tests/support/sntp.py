"""A real SNTP server on a free UDP port whose clock runs ``ahead_s`` ahead of this machine's:
what a village Pi whose clock is behind true time sees when it asks."""

from __future__ import annotations

import socket
import threading
import time

from edge_agent.timesync import PACKET, to_ntp


class SntpServer:
    def __init__(self, ahead_s: float = 0.0, stratum: int = 2, reply_delays: tuple = ()):
        self.ahead_s = ahead_s
        # seconds each reply in turn waits after it is stamped: a delay on the way back only
        self.reply_delays = list(reply_delays)
        self.stratum = stratum
        self.requests = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="sntp", daemon=True)

    def start(self) -> SntpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(512)
            except TimeoutError:
                continue
            except OSError:
                return
            received = time.time() + self.ahead_s
            if len(data) < PACKET.size:
                continue
            self.requests += 1
            client_transmit = PACKET.unpack_from(data)[10]
            reply = PACKET.pack(
                0x24,
                self.stratum,
                6,
                -20,
                0,
                0,
                b"LOCL",
                to_ntp(received),
                client_transmit,
                to_ntp(received),
                to_ntp(time.time() + self.ahead_s),
            )
            if self.reply_delays:
                time.sleep(self.reply_delays.pop(0))
            self._sock.sendto(reply, peer)
