"""Off-the-shelf CH340 "LCUS" USB relay boards: switch amplifier mains without custom firmware.

The board listens at 9600 baud for 4-byte commands ``A0 <relay> <state> <checksum>`` where
relay counts from 1, state is 1 (on) or 0 (off) and the checksum is the low byte of the sum of
the first three bytes. It answers nothing, so there is no reading back; the MCU protocol is the
richer option when a cluster has a board of its own.
"""

from __future__ import annotations

import threading

import serial

from .link import close_quietly

START = 0xA0


def command(relay: int, on: bool) -> bytes:
    """The 4 bytes that switch ``relay`` (1-based) on or off."""
    if not 1 <= relay <= 8:
        raise ValueError("LCUS boards have relays 1 to 8")
    body = bytes((START, relay, 1 if on else 0))
    return body + bytes((sum(body) & 0xFF,))


class UsbRelayBoard:
    """Writes commands to the board; reopens the port if it went away since the last write."""

    def __init__(self, port: str, relays: int = 1, baudrate: int = 9600):
        self.port = port
        self.relays = relays
        self.baudrate = baudrate
        self._serial: serial.Serial | None = None
        self._lock = threading.Lock()

    def set(self, relay: int, on: bool) -> None:
        if relay > self.relays:
            raise ValueError(f"this board has {self.relays} relays")
        data = command(relay, on)
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._serial is None:
                        self._serial = serial.Serial(self.port, self.baudrate, timeout=1)
                    self._serial.write(data)
                    self._serial.flush()
                    return
                except (serial.SerialException, OSError):
                    self.close_locked()
                    if attempt == 2:
                        raise

    def set_all(self, on: bool) -> None:
        for relay in range(1, self.relays + 1):
            self.set(relay, on)

    def close_locked(self) -> None:
        close_quietly(self._serial)
        self._serial = None

    def close(self) -> None:
        with self._lock:
            self.close_locked()
