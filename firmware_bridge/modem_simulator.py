"""A cellular modem's AT port in Python, on the far side of a pseudo-terminal, and the SMS
network between such modems.

Written from the SIMCom SIM800 Series AT Command Manual (V1.09), the SIM7600 Series AT
Command Manual (V1.08) and Quectel's EC25 AT Commands Manual (V1.3), the parts all three share
with 3GPP TS 27.005/27.007: echo (``ATE``), error verbosity (``AT+CMEE``), the SIM
(``AT+CPIN?``), signal (``AT+CSQ``), registration (``AT+CREG?``), operator (``AT+COPS?``),
SMS in text mode (``AT+CMGF=1``, ``AT+CSCS``, ``AT+CNMI``, ``AT+CMGR``, ``AT+CMGL``,
``AT+CMGD``, ``AT+CMGS`` with its ``> `` prompt ended by Ctrl-Z or cancelled by ESC) and the
new-message indication ``+CMTI: "SM",<index>``. Answers end with ``\\r\\n``; a result code
stands on its own line between ``\\r\\n``; text mode is the only SMS mode here (``AT+CMGF=0``
is accepted, then reading in PDU mode is refused with ``+CMS ERROR: 302``).

Faults on command: no answer (``hang``), garbage, the SIM removed. The network delivers each
SMS after a delay and loses a share of them (``SmsNetwork``). Used by the tests and the demo.
"""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from . import serial_pty

CTRL_Z = b"\x1a"
ESC = b"\x1b"
VIETNAM = timezone(timedelta(hours=7))
CME_TEXT = {10: "SIM not inserted", 3: "operation not allowed", 21: "invalid index"}


@dataclass
class StoredSms:
    sender: str
    text: str
    at: datetime
    read: bool = False


@dataclass
class SmsNetwork:
    """Numbers to modems; each SMS delivered after ``delay_s`` (a range), lost with
    probability ``loss``. ``sent`` and ``lost`` keep what went through it."""

    delay_s: tuple[float, float] = (0.0, 0.0)
    loss: float = 0.0
    seed: int | None = None
    modems: dict[str, ModemSimulator] = field(default_factory=dict)
    sent: list[tuple[str, str, str]] = field(default_factory=list)  # (from, to, text)
    lost: list[tuple[str, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def attach(self, number: str, modem: ModemSimulator) -> None:
        self.modems[number] = modem
        modem.network, modem.number = self, number

    def submit(self, sender: str, to: str, text: str) -> None:
        self.sent.append((sender, to, text))
        if self._random.random() < self.loss:
            self.lost.append((sender, to, text))
            return
        modem = self.modems.get(to)
        if modem is None:
            return  # a number nobody has: lost in the network, as for real
        delay = self._random.uniform(*self.delay_s)
        timer = threading.Timer(delay, modem.receive, args=(sender, text))
        timer.daemon = True
        timer.start()


class ModemSimulator:
    """Run with ``start()``; the program under test opens ``port`` (a symlink to the pty)."""

    def __init__(self, port: Path, capacity: int = 30, operator: str = "Viettel"):
        self.port = port
        self.capacity = capacity  # messages the SIM's store holds (SIM800: 30 on most SIMs)
        self.operator = operator
        self.network: SmsNetwork | None = None
        self.number = ""
        self.rssi = 20  # +CSQ: 0..31, 99 unknown
        self.registered = True
        self.sim = True
        self.hung = False
        self.store: dict[int, StoredSms] = {}
        self.commands: list[str] = []  # every command line received
        self._echo = True
        self._cmee = 0
        self._text_mode = False  # the modems start in PDU mode (AT+CMGF=0)
        self._indications = False  # AT+CNMI with <mt>=1
        self._prompt_to: str | None = None  # AT+CMGS waiting for its text
        self._mr = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._master: int | None = None
        self._slave: int | None = None
        self._thread: threading.Thread | None = None

    # --- the pty -------------------------------------------------------------------------

    def start(self) -> ModemSimulator:
        self._master, self._slave = serial_pty.plug(self.port)
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="modem-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)
        serial_pty.unplug(self.port, self._master, self._slave)
        self._master = self._slave = None

    # --- faults --------------------------------------------------------------------------

    def hang(self, hung: bool = True) -> None:
        """Stop answering (a modem's firmware stuck), or answer again."""
        self.hung = hung

    def garbage(self, data: bytes = b"\xff\xfe\x00\x81\x92garbage\xff\r\n") -> None:
        self._write(data)

    def remove_sim(self) -> None:
        self.sim = False
        self._write(b"\r\n+CPIN: NOT READY\r\n")

    def insert_sim(self) -> None:
        self.sim = True
        self._write(b"\r\n+CPIN: READY\r\n\r\nSMS Ready\r\n")

    # --- the network side ----------------------------------------------------------------

    def receive(self, sender: str, text: str) -> None:
        """An SMS arrives: stored on the SIM, indicated if asked (``+CMTI``)."""
        if not self.sim:
            return
        with self._lock:
            free = next((i for i in range(1, self.capacity + 1) if i not in self.store), None)
            if free is None:
                return  # SIM full: the network keeps it (here: it is lost)
            self.store[free] = StoredSms(sender, text, datetime.now(VIETNAM))
            indicate = self._indications
        if indicate:
            self._write(f'\r\n+CMTI: "SM",{free}\r\n'.encode())

    # --- the wire ------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        serial_pty.write(self._master, data)

    def _serve(self) -> None:
        buffer = b""
        fd = self._master
        while not self._stop.is_set() and fd is not None:
            data = serial_pty.read(fd, 0.05)
            if data is None:
                return
            if not data or self.hung:
                continue
            buffer += data
            buffer = self._consume(buffer)

    def _consume(self, buffer: bytes) -> bytes:
        while True:
            if self._prompt_to is not None:
                end = min(
                    (i for i in (buffer.find(CTRL_Z), buffer.find(ESC)) if i >= 0), default=-1
                )
                if end < 0:
                    return buffer
                text, mark, buffer = buffer[:end], buffer[end : end + 1], buffer[end + 1 :]
                if self._echo:
                    self._write(text)
                self._submit(text.decode("ascii", "replace"), cancelled=mark == ESC)
                continue
            if b"\r" not in buffer:
                return buffer
            line, buffer = buffer.split(b"\r", 1)
            buffer = buffer.lstrip(b"\n")
            command = line.decode("ascii", "replace").strip()
            if not command:
                continue
            if self._echo:
                self._write(line + b"\r")
            self.commands.append(command)
            self._answer(command)

    def _ok(self, *lines: str) -> None:
        self._write(b"".join(f"\r\n{ln}\r\n".encode() for ln in (*lines, "OK")))

    def _error(self, cme: int | None = None, cms: int | None = None) -> None:
        if cms is not None and self._cmee:
            self._write(f"\r\n+CMS ERROR: {cms}\r\n".encode())
        elif cme is not None and self._cmee == 2:
            self._write(f"\r\n+CME ERROR: {CME_TEXT.get(cme, cme)}\r\n".encode())
        elif cme is not None and self._cmee == 1:
            self._write(f"\r\n+CME ERROR: {cme}\r\n".encode())
        else:
            self._write(b"\r\nERROR\r\n")

    def _header(self, index: int | None, sms: StoredSms) -> str:
        stat = "REC READ" if sms.read else "REC UNREAD"
        stamp = sms.at.strftime("%y/%m/%d,%H:%M:%S") + "+28"  # quarter hours east of UTC
        where = f"{index}," if index is not None else ""
        tag = "+CMGL" if index is not None else "+CMGR"
        return f'{tag}: {where}"{stat}","{sms.sender}","","{stamp}"'

    def _answer(self, command: str) -> None:
        upper = command.upper()
        if upper == "AT":
            return self._ok()
        if upper in ("ATE0", "ATE1"):
            self._echo = upper == "ATE1"
            return self._ok()
        if m := re.fullmatch(r"AT\+CMEE=([012])", upper):
            self._cmee = int(m[1])
            return self._ok()
        if upper == "AT+CPIN?":
            return self._ok("+CPIN: READY") if self.sim else self._error(cme=10)
        if upper == "AT+CSQ":
            return self._ok(f"+CSQ: {self.rssi if self.sim else 99},99")
        if upper == "AT+CREG?":
            return self._ok(f"+CREG: 0,{1 if self.registered and self.sim else 0}")
        if upper == "AT+COPS?":
            if self.registered and self.sim:
                return self._ok(f'+COPS: 0,0,"{self.operator}"')
            return self._ok("+COPS: 0")
        if m := re.fullmatch(r"AT\+CMGF=([01])", upper):
            self._text_mode = m[1] == "1"
            return self._ok()
        if upper == "AT+CMGF?":
            return self._ok(f"+CMGF: {int(self._text_mode)}")
        if re.fullmatch(r'AT\+CSCS="(GSM|IRA|UCS2)"', upper):
            return self._ok()
        if m := re.fullmatch(r"AT\+CNMI=(\d)(?:,(\d))?(?:,\d){0,3}", upper):
            self._indications = m[2] == "1"
            return self._ok()
        if not self.sim and upper.startswith(("AT+CMG", "AT+CPMS")):
            return self._error(cme=10)
        if m := re.fullmatch(r"AT\+CMGR=(\d{1,3})", upper):
            if not self._text_mode:
                return self._error(cms=302)
            with self._lock:
                sms = self.store.get(int(m[1]))
                if sms is None:
                    return self._ok()  # SIM800: an empty index answers OK alone
                header = self._header(None, sms)
                sms.read = True
            return self._ok(header, sms.text)
        if m := re.fullmatch(r'AT\+CMGL="(ALL|REC UNREAD|REC READ)"', upper):
            if not self._text_mode:
                return self._error(cms=302)
            lines: list[str] = []
            with self._lock:
                for index in sorted(self.store):
                    sms = self.store[index]
                    if m[1] == "ALL" or (m[1] == "REC UNREAD") != sms.read:
                        lines += [self._header(index, sms), sms.text]
                        sms.read = True
            return self._ok(*lines)
        if m := re.fullmatch(r"AT\+CMGD=(\d{1,3})(?:,([0-4]))?", upper):
            with self._lock:
                if m[2] == "4":
                    self.store.clear()
                else:
                    self.store.pop(int(m[1]), None)
            return self._ok()
        if m := re.fullmatch(r'AT\+CMGS="(\+?\d{3,20})"', upper):
            if not self._text_mode:
                return self._error(cms=302)
            if not self.registered:
                return self._error(cms=331)  # no network service
            self._prompt_to = m[1]
            self._write(b"\r\n> ")
            return None
        return self._error(cme=3)

    def _submit(self, text: str, cancelled: bool) -> None:
        to, self._prompt_to = self._prompt_to, None
        if cancelled or to is None:
            return self._ok()
        if len(text) > 160:
            return self._error(cms=305)  # invalid text mode parameter
        self._mr = (self._mr + 1) % 256
        if self.network is not None:
            self.network.submit(self.number, to, text)
        time.sleep(0.05)  # the network's answer takes a moment
        return self._ok(f"+CMGS: {self._mr}")
