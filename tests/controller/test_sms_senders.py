"""The station's two SMS channels, each against a real counterpart: the GSM modem sender
speaks AT+CMGS to the modem simulator on a pty (the SMS arrives in the far modem's store),
the gateway sender POSTs to a local HTTPS server with the station's own certificate."""

from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from controller.settings import Settings
from controller.sms.senders import (
    GsmModemSender,
    HttpsGatewaySender,
    SmsChannels,
    SmsNotSent,
    sms_channels,
)
from controller.tls import ensure_certificate
from firmware_bridge.modem_simulator import ModemSimulator, SmsNetwork
from tests.support.stack import wait_for

ORDER = "LL1 S A - 1b9x3k 1b9x3k 1b9x9c " + "A" * 86


def test_the_modem_sender_hands_the_sms_to_the_network(tmp_path: Path):
    network = SmsNetwork()
    station = ModemSimulator(tmp_path / "station").start()
    village = ModemSimulator(tmp_path / "village").start()
    network.attach("+84900000000", station)
    network.attach("+84911000001", village)
    try:
        reference = GsmModemSender(str(station.port)).send("+84911000001", ORDER)
        assert reference.startswith("mr ")
        stored = wait_for(lambda: list(village.store.values()), what="the SMS in the far store")
        assert (stored[0].sender, stored[0].text) == ("+84900000000", ORDER)
        assert 'AT+CMGS="+84911000001"' in station.commands
        village.registered = (
            False  # the far modem is irrelevant; the station's own loses its network
        )
        station.registered = False
        with pytest.raises(SmsNotSent, match=r"\+CMS ERROR: 331"):
            GsmModemSender(str(station.port)).send("+84911000001", ORDER)
        station.hang()
        with pytest.raises(SmsNotSent, match="no answer"):
            GsmModemSender(str(station.port)).send("+84911000001", ORDER)
    finally:
        station.stop()
        village.stop()
    with pytest.raises(SmsNotSent, match="modem"):
        GsmModemSender(str(tmp_path / "unplugged")).send("+84911000001", ORDER)


class _Gateway(BaseHTTPRequestHandler):
    received: list[tuple[str, dict]] = []
    answer = 201

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append((self.headers.get("Authorization", ""), body))
        if self.headers.get("Authorization") != "Bearer gw-token":
            self.send_response(401)
            self.end_headers()
            return
        self.send_response(type(self).answer)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"id": "msg-42"}).encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gateway(tmp_path: Path):
    files = ensure_certificate(tmp_path / "tls", "Trạm thử")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.cert, files.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Gateway.received = []
    _Gateway.answer = 201
    yield f"https://localhost:{server.server_address[1]}/sms", str(files.ca)
    server.shutdown()
    server.server_close()


def test_the_gateway_sender_posts_over_https_and_says_why_it_failed(gateway):
    url, ca = gateway
    assert HttpsGatewaySender(url, "gw-token", ca=ca).send("+84911000001", ORDER) == (
        "gateway msg-42"
    )
    assert _Gateway.received == [("Bearer gw-token", {"to": "+84911000001", "text": ORDER})]
    with pytest.raises(SmsNotSent, match="HTTP 401"):
        HttpsGatewaySender(url, "wrong", ca=ca).send("+84911000001", ORDER)
    _Gateway.answer = 503
    with pytest.raises(SmsNotSent, match="HTTP 503"):
        HttpsGatewaySender(url, "gw-token", ca=ca).send("+84911000001", ORDER)
    with pytest.raises(SmsNotSent, match="gateway: ConnectError"):  # not the station's CA
        HttpsGatewaySender(url, "gw-token").send("+84911000001", ORDER)


def test_the_gateway_takes_over_when_the_modem_is_unplugged(gateway, tmp_path: Path):
    url, ca = gateway
    settings = Settings(
        data_dir=tmp_path,
        sms_modem_port=str(tmp_path / "no-modem"),
        sms_gateway_url=url,
        sms_gateway_token="gw-token",
        sms_gateway_ca=ca,
    )
    channels = sms_channels(settings)
    assert [s.name for s in channels.senders] == ["modem", "gateway"]
    assert channels.send("+84911000001", ORDER) == ("gateway", "gateway msg-42")
    with pytest.raises(SmsNotSent, match="no SMS channel"):
        SmsChannels([]).send("+84911000001", ORDER)
