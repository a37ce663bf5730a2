"""Amplifier power through an off-the-shelf LCUS USB relay board (no readings to take)."""

from __future__ import annotations

import serial

from firmware_bridge.usb_relay import UsbRelayBoard
from protocol.messages import HardwareReadings

from .base import ClusterBoard, HardwareError, NoticeHandler


class RelayBoard(ClusterBoard):
    name = "usb_relay"

    def __init__(self, port: str, relays: int = 1):
        self._board = UsbRelayBoard(port, relays=relays)
        self._on = [False] * relays  # what was last switched (the board answers nothing)
        self._ok = True

    def start(self, on_notice: NoticeHandler) -> None:
        pass

    def stop(self) -> None:
        self._board.close()

    @property
    def channels(self) -> int:
        return self._board.relays

    def set_channel(self, channel: int, on: bool) -> None:
        try:
            self._board.set(channel + 1, on)  # the board counts relays from 1
        except (serial.SerialException, OSError) as exc:
            self._ok = False
            raise HardwareError(f"relay board: {exc}") from None
        self._ok = True
        self._on[channel] = on

    def read(self) -> HardwareReadings:
        # The board answers nothing: report what was last switched, and whether that worked.
        return HardwareReadings(backend=self.name, connected=self._ok, amplifiers=list(self._on))
