"""LCUS relay boards: the documented 4-byte commands, written to a real pty."""

from __future__ import annotations

import os
import select
import tty

import pytest

from firmware_bridge.usb_relay import UsbRelayBoard, command


def test_commands_match_the_board_documentation():
    assert command(1, True) == bytes.fromhex("A00101A2")
    assert command(1, False) == bytes.fromhex("A00100A1")
    assert command(2, True) == bytes.fromhex("A00201A3")
    with pytest.raises(ValueError, match="relays 1 to 8"):
        command(0, True)


def _read(fd: int, n: int) -> bytes:
    out = b""
    while len(out) < n:
        ready, _, _ = select.select([fd], [], [], 2)
        assert ready, f"board received only {out.hex()}"
        out += os.read(fd, n - len(out))
    return out


def test_board_receives_the_bytes_in_order(tmp_path):
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    board = UsbRelayBoard(os.ttyname(slave), relays=2)
    try:
        board.set_all(True)
        board.set(2, False)
        assert _read(master, 12) == bytes.fromhex("A00101A2A00201A3A00200A2")
        with pytest.raises(ValueError, match="this board has 2 relays"):
            board.set(3, True)
    finally:
        board.close()
        os.close(master)
        os.close(slave)
