"""The demo's storm path: a modem simulator on a pty for the station and for every village
agent, the SMS network between them (3–10 s a message), a pinned message, and each village's
data link as a cut-able wire: ``touch <data>/agents/<id>.cut`` drops the agent's MQTT link
(as a storm takes 4G data) and refuses it until the file is removed."""

from __future__ import annotations

import logging
import re
import socket
import threading
from pathlib import Path

import httpx

from firmware_bridge.modem_simulator import ModemSimulator, SmsNetwork

log = logging.getLogger(__name__)

STATION_PHONE = "+84200000000"
PINNED_ID = "bao"
PINNED_TITLE = "Bão — sơ tán ngay"


def phone_of(index: int) -> str:
    return f"+8491100000{index + 1}"


class LinkCut:
    """A village's data link in the demo: its agent reaches the broker through here."""

    def __init__(self, flag: Path, broker: tuple[str, int]):
        self.flag = flag
        self.broker = broker
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind((broker[0], 0))  # the name the agent dials (and TLS checks)
        self._server.listen(8)
        self.port = self._server.getsockname()[1]
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        threading.Thread(target=self._accept, name="link-accept", daemon=True).start()
        threading.Thread(target=self._watch, name="link-watch", daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self._server.close()
        self._drop()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if self.flag.exists():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.broker, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            if self.flag.exists():
                self._drop()

    def _drop(self) -> None:
        with self._lock:
            gone, self._open = self._open, []
        for sock in gone:
            _close(sock)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class DemoStorm:
    """Started before the agents (their configs point at their modem and their link)."""

    def __init__(self, data_dir: Path, device_ids: list[str]):
        self.network = SmsNetwork(delay_s=(3.0, 10.0))
        self.station = ModemSimulator(station_modem(data_dir)).start()
        self.network.attach(STATION_PHONE, self.station)
        agents = data_dir / "agents"
        self.modems: dict[str, ModemSimulator] = {}
        self.links: dict[str, LinkCut] = {}
        for i, device_id in enumerate(device_ids):
            modem = ModemSimulator((agents / device_id).resolve() / "ttyModem").start()
            self.network.attach(phone_of(i), modem)
            self.modems[device_id] = modem
            (agents / f"{device_id}.cut").unlink(missing_ok=True)  # every demo starts linked

    def wire(self, config: Path) -> None:
        """The agent's config: its modem, and its MQTT link through its cut-able wire."""
        device_id = config.stem
        text = config.read_text()
        if "[modem]" not in text:
            port = self.modems[device_id].port
            text += f'\n[modem]\nport = "{port}"\npoll_s = 30\n'
        mqtt = text.index("[mqtt]")
        end = text.find("\n[", mqtt + 1)
        end = len(text) if end < 0 else end
        section = text[mqtt:end]
        # the broker as provisioned, kept beside the config (the config then names the wire)
        kept = config.with_suffix(".broker")
        if not kept.exists():
            named = re.search(r'(?m)^host = "([^"]+)"$', section)
            number = re.search(r"(?m)^port = (\d+)$", section)
            if named is None or number is None:
                raise RuntimeError(f"{config}: no broker host and port in [mqtt]")
            kept.write_text(f"{named[1]}\n{number[1]}\n")
        host, port = kept.read_text().split()
        link = self.links[device_id] = LinkCut(config.with_suffix(".cut"), (host, int(port)))
        section = re.sub(r"(?m)^port = \d+$", f"port = {link.port}", section)
        config.write_text(text[:mqtt] + section + text[end:])

    def stop(self) -> None:
        for link in self.links.values():
            link.close()
        for modem in (self.station, *self.modems.values()):
            modem.stop()


def station_modem(data_dir: Path) -> Path:
    return data_dir.resolve() / "modems" / "station"


def pin_and_number(base_url: str, token: str, sample: Path, device_ids: list[str]) -> None:
    """The sample pinned as the storm message (once) and every cluster's SIM number."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as http:
        for i, device_id in enumerate(device_ids):
            http.put(f"/api/devices/{device_id}/phone", json={"phone": phone_of(i)})
        if http.get("/api/pinned").json()["messages"]:
            return
        with sample.open("rb") as fh:
            media = http.post(
                "/api/media", files={"file": (sample.name, fh)}, data={"title": PINNED_TITLE}
            )
        media.raise_for_status()
        http.put(
            f"/api/pinned/{PINNED_ID}",
            json={
                "title": PINNED_TITLE,
                "media_sha256": media.json()["sha256"],
                "cap_words": ["bão", "áp thấp nhiệt đới"],  # a CAP alert naming them plays it
            },
        ).raise_for_status()
