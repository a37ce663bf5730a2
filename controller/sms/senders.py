"""Where an SMS order leaves the station: its own GSM/4G modem on a serial port (AT+CMGS in
text mode, as SIM800/SIM7600/EC25 manuals describe it) or an SMS gateway over HTTPS. Each
behind one small interface; ``SmsChannels`` tries them in order."""

from __future__ import annotations

import contextlib
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
    """The station's USB modem: opened and set to text mode on the first SMS, then kept open
    while it answers (a storm's orders go out back to back); closed on any fault and opened
    again for the next SMS (it may have been unplugged between storms). One ``AT+CMGS`` per
    message, one SMS at a time."""

    name = "modem"

    def __init__(self, port: str, baudrate: int = 115200):
        self.port = port
        self.baudrate = baudrate
        self._lock = threading.Lock()
        self._open: tuple[serial.Serial, AtPort] | None = None

    def send(self, number: str, text: str) -> str:
        with self._lock:
            for fresh in (self._open is None, True):
                try:
                    answer = self._at().with_text(f'AT+CMGS="{number}"', text)
                    break
                except (ModemError, serial.SerialException, OSError) as exc:
                    self.close()
                    if fresh:  # (a port kept open may have gone stale: once more, afresh)
                        raise SmsNotSent(f"modem {self.port}: {exc}") from None
        reference = next(
            (ln.split(":", 1)[1].strip() for ln in answer if ln.startswith("+CMGS:")), ""
        )
        return f"mr {reference}"

    def close(self) -> None:
        if self._open is not None:
            with contextlib.suppress(OSError, serial.SerialException):
                self._open[0].close()
            self._open = None

    def _at(self) -> AtPort:
        if self._open is None:
            ser = serial.Serial(self.port, self.baudrate, timeout=0.2)
            try:
                at = AtPort(ser)
                at.command("AT", timeout=2)
                at.command("ATE0")
                at.command("AT+CMEE=2")
                at.command("AT+CMGF=1")
                at.command('AT+CSCS="IRA"')
            except BaseException:
                ser.close()
                raise
            self._open = (ser, at)
        return self._open[1]


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

    def close(self) -> None:
        for sender in self.senders:
            if isinstance(sender, GsmModemSender):
                sender.close()

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
