"""Where an SMS order leaves the station: its own GSM/4G modem on a serial port (AT+CMGS in
text mode, as SIM800/SIM7600/EC25 manuals describe it) or an SMS gateway over HTTPS. Each
behind one small interface; ``SmsChannels`` tries them in order."""

from __future__ import annotations

import logging
import ssl
import threading
from typing import Any, Protocol

import httpx
import serial

from firmware_bridge.at import AtPort, ModemError

log = logging.getLogger(__name__)


class SmsNotSent(Exception):
    """No channel took the SMS (the reason in words for the technician)."""


class SmsSender(Protocol):
    name: str

    def send(self, number: str, text: str) -> str:
        """Hand one SMS to the network; a reference it gave (``SmsNotSent`` if refused)."""
        ...


class GsmModemSender:
    """The station's USB modem: opened per SMS (it may be unplugged between storms), set to
    text mode, one ``AT+CMGS`` per message; one SMS at a time."""

    name = "modem"

    def __init__(self, port: str, baudrate: int = 115200):
        self.port = port
        self.baudrate = baudrate
        self._lock = threading.Lock()

    def send(self, number: str, text: str) -> str:
        with self._lock:
            try:
                with serial.Serial(self.port, self.baudrate, timeout=0.2) as ser:
                    at = AtPort(ser)
                    at.command("AT", timeout=2)
                    at.command("ATE0")
                    at.command("AT+CMEE=2")
                    at.command("AT+CMGF=1")
                    at.command('AT+CSCS="IRA"')
                    answer = at.with_text(f'AT+CMGS="{number}"', text)
            except (ModemError, serial.SerialException, OSError) as exc:
                raise SmsNotSent(f"modem {self.port}: {exc}") from None
        reference = next(
            (ln.split(":", 1)[1].strip() for ln in answer if ln.startswith("+CMGS:")), ""
        )
        return f"mr {reference}"


class HttpsGatewaySender:
    """An SMS gateway over HTTPS: ``POST {url}`` with ``{"to": "+84…", "text": "…"}`` and the
    token as a bearer; a 2xx answer with ``{"id": "…"}`` means taken (docs/emergencies.md)."""

    name = "gateway"

    def __init__(self, url: str, token: str | None, ca: str | None = None, timeout: float = 15):
        self.url = url
        self.token = token
        # the gateway's certificate against this CA bundle, else the system's
        self.verify = ssl.create_default_context(cafile=ca) if ca else True
        self.timeout = timeout

    def send(self, number: str, text: str) -> str:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            r = httpx.post(
                self.url,
                json={"to": number, "text": text},
                headers=headers,
                timeout=self.timeout,
                verify=self.verify,
            )
        except httpx.HTTPError as exc:
            raise SmsNotSent(f"gateway: {type(exc).__name__}: {exc}") from None
        if not r.is_success:
            raise SmsNotSent(f"gateway: HTTP {r.status_code} {r.text[:100]}")
        try:
            reference = str(r.json().get("id", ""))
        except ValueError:
            reference = ""
        return f"gateway {reference}".strip()


def sms_channels(settings: Any) -> SmsChannels:
    """The station's channels from its settings: its modem first, then the gateway (the
    gateway's certificate checked against the station's CA bundle or the system's)."""
    senders: list[SmsSender] = []
    if settings.sms_modem_port:
        senders.append(GsmModemSender(settings.sms_modem_port, settings.sms_modem_baudrate))
    if settings.sms_gateway_url:
        senders.append(
            HttpsGatewaySender(
                settings.sms_gateway_url,
                settings.sms_gateway_token,
                ca=settings.sms_gateway_ca,
            )
        )
    return SmsChannels(senders)


class SmsChannels:
    """The configured senders, tried in order: the first that takes the SMS wins."""

    def __init__(self, senders: list[SmsSender]):
        self.senders = senders

    @property
    def available(self) -> bool:
        return bool(self.senders)

    def send(self, number: str, text: str) -> tuple[str, str]:
        """(channel name, its reference); ``SmsNotSent`` with every channel's reason."""
        reasons = []
        for sender in self.senders:
            try:
                return sender.name, sender.send(number, text)
            except SmsNotSent as exc:
                log.warning("SMS to %s not sent by %s: %s", number, sender.name, exc)
                reasons.append(str(exc))
        raise SmsNotSent("; ".join(reasons) or "no SMS channel configured")
