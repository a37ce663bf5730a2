"""An AT command port (3GPP TS 27.007), as the agent's SMS reader and the station's SMS
sender both speak it: one command at a time, its answer up to ``OK``, indications that arrive
meanwhile kept aside."""

from __future__ import annotations

import time

import serial

URC = ("+CMTI:", "RING", "RDY", "Call Ready", "SMS Ready", "+CPIN: NOT READY", "+CFUN:")
"""Lines a modem sends unasked (indications, its boot); kept aside while a command runs."""
CTRL_Z = b"\x1a"
"""Ends a text after the ``> `` prompt (ESC would cancel it)."""


class ModemError(Exception):
    """The modem did not answer as the manuals say (timeout, ERROR, garbage, no SIM)."""


class AtPort:
    """One AT command at a time over a serial port; indications that arrive meanwhile are
    kept in ``unsolicited`` for the reader."""

    def __init__(self, port: serial.Serial):
        self._port = port
        self.unsolicited: list[str] = []

    def line(self, timeout: float) -> str | None:
        """The next non-empty line, or None after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            raw = self._port.readline()
            if not raw:
                continue
            text = raw.decode("ascii", "replace").strip()
            if text:
                if "\ufffd" in text or any(c < " " for c in text):
                    raise ModemError(f"garbage on the AT port: {raw[:40]!r}")
                return text
        return None

    def command(self, cmd: str, timeout: float = 5.0) -> list[str]:
        """Send ``cmd``; the lines of its answer before ``OK`` (``ModemError`` otherwise)."""
        self._port.write(f"{cmd}\r".encode("ascii"))
        return self._answer(cmd, time.monotonic() + timeout)

    def with_text(self, cmd: str, text: str, timeout: float = 60.0) -> list[str]:
        """A command that asks for a text after its ``> `` prompt (``AT+CMGS``): the text,
        then Ctrl-Z; the answer as for ``command`` (the network can take a minute)."""
        self._port.write(f"{cmd}\r".encode("ascii"))
        self._prompt(cmd, time.monotonic() + 10)
        self._port.write(text.encode("ascii") + CTRL_Z)
        return [ln for ln in self._answer(cmd, time.monotonic() + timeout) if ln != text]

    def _prompt(self, cmd: str, deadline: float) -> None:
        """Wait for the ``> `` prompt, which no line end follows (so not line by line: a
        readline would sit out the port's timeout on every SMS)."""
        buffer = b""
        while time.monotonic() < deadline:
            buffer += self._port.read_until(b"> ")
            *lines, rest = buffer.split(b"\n")
            for raw in lines:
                line = raw.decode("ascii", "replace").strip()
                if line == "ERROR" or line.startswith(("+CME ERROR", "+CMS ERROR")):
                    raise ModemError(f"{cmd}: {line}")
                if line.startswith(URC):
                    self.unsolicited.append(line)
            if rest.lstrip().startswith(b">"):
                return
            buffer = rest
        raise ModemError(f"no prompt after {cmd}")

    def _answer(self, cmd: str, deadline: float) -> list[str]:
        lines: list[str] = []
        while True:
            line = self.line(max(0.0, deadline - time.monotonic()))
            if line is None:
                raise ModemError(f"no answer to {cmd}")
            if line == cmd:  # the echo, before ATE0 took effect
                continue
            if line == "OK":
                return lines
            if line == "ERROR" or line.startswith(("+CME ERROR", "+CMS ERROR")):
                raise ModemError(f"{cmd}: {line}")
            if line.startswith(URC):
                self.unsolicited.append(line)
                continue
            lines.append(line)
