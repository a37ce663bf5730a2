"""The cellular modem's AT port: SMS orders in when the data link is gone.

Spoken as 3GPP TS 27.005/27.007 define it and as SIM800, SIM7600 and Quectel EC25 manuals
describe it: text mode (``AT+CMGF=1``) in the IRA character set, new-message indications
(``AT+CNMI=2,1`` → ``+CMTI: "SM",<index>``), each message read (``AT+CMGR``), handed over,
then deleted (``AT+CMGD``); the store is listed (``AT+CMGL="ALL"``) at start and every poll,
so a message that came while the agent was down, or whose indication was lost, is still read.
A modem that stops answering, answers garbage or loses its SIM raises the ``modem`` alarm and
is opened again; the agent keeps working over MQTT meanwhile.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import serial

from firmware_bridge.at import AtPort, ModemError
from protocol.messages import ModemReadings, utcnow

log = logging.getLogger(__name__)

REOPEN_S = 10.0
_CMTI = re.compile(r'^\+CMTI: "(?P<mem>[A-Z]{2})",(?P<index>\d{1,4})$')
_HEADER = re.compile(r'^\+CMG[RL]: (?:(?P<index>\d{1,4}),)?"(?P<stat>[A-Z ]+)","(?P<sender>[^"]*)"')
_CSQ = re.compile(r"^\+CSQ: (?P<rssi>\d{1,2}),(?P<ber>\d{1,2})$")
_CREG = re.compile(r"^\+CREG: \d,(?P<stat>\d)")
_COPS = re.compile(r'^\+COPS: \d(?:,\d,"(?P<name>[^"]*)")?')


@dataclass(frozen=True)
class ReceivedSms:
    text: str
    sender: str
    received_at: datetime


def read_messages(lines: list[str]) -> list[tuple[int | None, str, str]]:
    """(index, sender, text) of each message in a ``+CMGR``/``+CMGL`` answer (text mode)."""
    found: list[tuple[int | None, str, list[str]]] = []
    for line in lines:
        header = _HEADER.match(line)
        if header:
            index = header["index"]
            found.append((int(index) if index else None, header["sender"], []))
        elif found:
            found[-1][2].append(line)
        else:
            raise ModemError(f"not a message: {line[:40]!r}")
    return [(i, sender, "\n".join(text)) for i, sender, text in found]


def signal_dbm(lines: list[str]) -> int | None:
    """``+CSQ: <rssi>,<ber>``: rssi 0..31 is −113..−51 dBm; 99 is unknown."""
    for line in lines:
        m = _CSQ.match(line)
        if m:
            rssi = int(m["rssi"])
            return None if rssi > 31 else -113 + 2 * rssi
    raise ModemError(f"no +CSQ in {lines!r}")


class SmsModem:
    """Reads the modem in a thread of its own; ``on_sms`` gets each message before it is
    deleted from the SIM (so a crash in between reads it again: the sequence number then
    refuses the copy)."""

    def __init__(
        self,
        port: str,
        baudrate: int,
        on_sms: Callable[[ReceivedSms], None],
        on_fault: Callable[[str | None], None],
        poll_s: float = 60.0,
        reopen_s: float = REOPEN_S,
    ):
        self.port = port
        self.baudrate = baudrate
        self._on_sms = on_sms
        self._on_fault = on_fault  # a reason, or None once the modem answers well again
        self.poll_s = poll_s
        self.reopen_s = reopen_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="modem", daemon=True)
        self._readings = ModemReadings(connected=False)
        self.received = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=3)

    def readings(self) -> ModemReadings:
        return self._readings

    def _run(self) -> None:
        fault: str | None = ""  # what was last said: a reason, None (well) or "" (nothing yet)
        while not self._stop.is_set():
            try:
                with serial.Serial(self.port, self.baudrate, timeout=0.2) as port:
                    at = AtPort(port)
                    self._set_up(at)
                    if fault is not None:
                        self._on_fault(None)
                        fault = None
                    self._serve(at)
            except (ModemError, serial.SerialException, OSError) as exc:
                reason = str(exc)[:200]
                self._readings = ModemReadings(connected=False)
                if reason != fault:
                    log.warning("modem on %s: %s", self.port, reason)
                    self._on_fault(reason)
                    fault = reason
                self._stop.wait(self.reopen_s)

    def _set_up(self, at: AtPort) -> None:
        at.command("AT", timeout=2)
        at.command("ATE0")
        at.command("AT+CMEE=2")
        sim = self._sim(at)
        if sim != "READY":
            raise ModemError(f"SIM: {sim}")
        at.command("AT+CMGF=1")
        at.command('AT+CSCS="IRA"')
        at.command("AT+CNMI=2,1,0,0,0")
        self._read_stored(at)
        self._poll(at)

    def _sim(self, at: AtPort) -> str:
        try:
            lines = at.command("AT+CPIN?")
        except ModemError as exc:
            return str(exc).split(": ", 1)[-1]  # +CME ERROR: SIM not inserted
        return next((ln.split(": ", 1)[1] for ln in lines if ln.startswith("+CPIN:")), "?")

    def _poll(self, at: AtPort) -> None:
        """The SIM, signal and registration, for the health report; the store, for a
        message whose indication was lost."""
        sim = self._sim(at)
        if sim != "READY":
            raise ModemError(f"SIM: {sim}")
        dbm = signal_dbm(at.command("AT+CSQ"))
        registered = None
        for line in at.command("AT+CREG?"):
            m = _CREG.match(line)
            if m:
                registered = m["stat"] in ("1", "5")  # home, roaming
        operator = None
        for line in at.command("AT+COPS?"):
            m = _COPS.match(line)
            if m:
                operator = m["name"]
        self._readings = ModemReadings(
            connected=True, sim=sim, registered=registered, signal_dbm=dbm, operator=operator
        )

    def _serve(self, at: AtPort) -> None:
        next_poll = time.monotonic() + self.poll_s
        while not self._stop.is_set():
            while at.unsolicited:
                self._indication(at, at.unsolicited.pop(0))
            line = at.line(0.5)
            if line is not None:
                self._indication(at, line)
            if time.monotonic() >= next_poll:
                self._poll(at)
                self._read_stored(at)
                next_poll = time.monotonic() + self.poll_s

    def _indication(self, at: AtPort, line: str) -> None:
        m = _CMTI.match(line)
        if m is None:
            if line.startswith("+CPIN: NOT READY"):
                raise ModemError("SIM: NOT READY")
            log.debug("modem says %r", line)
            return
        index = int(m["index"])
        for _, sender, text in read_messages(at.command(f"AT+CMGR={index}")):
            self._hand_over(sender, text)
        at.command(f"AT+CMGD={index}")

    def _read_stored(self, at: AtPort) -> None:
        for index, sender, text in read_messages(at.command('AT+CMGL="ALL"', timeout=10)):
            self._hand_over(sender, text)
            if index is not None:
                at.command(f"AT+CMGD={index}")

    def _hand_over(self, sender: str, text: str) -> None:
        self.received += 1
        self._on_sms(ReceivedSms(text=text, sender=sender[:24], received_at=utcnow()))
