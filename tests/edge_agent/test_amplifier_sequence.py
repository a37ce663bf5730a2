"""Amplifier channels switch one by one (on first to last, off in reverse), a set gap apart, on
the MCU (its simulator on a pty logs each switching) and on an LCUS relay board (the bytes it
received, stamped as they arrived)."""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.hardware.base import switching_order
from edge_agent.hardware.mcu import McuBoard
from edge_agent.hardware.relay import RelayBoard
from firmware_bridge import codec
from firmware_bridge.simulator import McuSimulator
from firmware_bridge.usb_relay import command
from tests.support.stack import wait_for

GAP_S = 0.2


def test_on_from_the_first_channel_and_off_from_the_last():
    assert list(switching_order(4, True)) == [0, 1, 2, 3]
    assert list(switching_order(4, False)) == [3, 2, 1, 0]
    assert list(switching_order(0, True)) == []


@pytest.fixture
def mcu(tmp_path: Path) -> Iterator[tuple[McuSimulator, McuBoard]]:
    sim = McuSimulator(tmp_path / "ttyMCU", channels=4).start()
    board = McuBoard(str(sim.port))
    board.start(lambda notice: None)
    wait_for(lambda: board.read().connected, what="the board answering")
    yield sim, board
    board.stop()
    sim.stop()


def _gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def test_a_relay_gone_to_fm_while_the_channels_switch_stays_on_fm(mcu):
    """The tuner takes over (no stream answers) while four channels are still switching on,
    a gap apart: the end of the switching must not put the Pi's silent input back."""
    sim, board = mcu
    switching = threading.Thread(target=board.set_amplifiers, args=(True, GAP_S))
    switching.start()
    wait_for(lambda: sim.amplifier_log, what="the first channel on")
    board.listen_fm(10000)
    switching.join(5)
    assert sim.state.amplifiers == 0b1111
    assert sim.state.source == codec.InputSource.fm
    assert sim.state.fm_10khz == 10000
    board.listen_fm(None)  # a stream is back
    board.set_amplifiers(True, 0.0)
    assert sim.state.source == codec.InputSource.ip


def test_the_mcu_switches_four_channels_one_by_one_and_back_in_reverse(mcu):
    sim, board = mcu
    assert board.channels == 4
    board.set_amplifiers(True, GAP_S)
    assert [mask for _, mask in sim.amplifier_log] == [0b0001, 0b0011, 0b0111, 0b1111]
    board.set_amplifiers(False, GAP_S)
    log = sim.amplifier_log
    assert [mask for _, mask in log[4:]] == [0b0111, 0b0011, 0b0001, 0b0000]
    # each switching a gap after the one before (serial latency may shave a little off)
    on, off = [t for t, _ in log[:4]], [t for t, _ in log[4:]]
    assert all(g >= GAP_S * 0.75 for g in _gaps(on) + _gaps(off)), log
    on_then_input = [type(m).__name__ for m in sim.received if not isinstance(m, codec.Ping)]
    # the Pi's audio feeds the amplifiers once the last channel is on
    assert on_then_input[-9:-4] == ["SetAmplifier"] * 4 + ["SetInput"]


def test_no_gap_switches_the_channels_in_the_same_order(mcu):
    sim, board = mcu
    board.set_amplifiers(True)
    assert [mask for _, mask in sim.amplifier_log] == [0b0001, 0b0011, 0b0111, 0b1111]


def test_a_relay_board_gets_each_relay_in_turn_a_gap_apart():
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    board = RelayBoard(os.ttyname(slave), relays=3)
    received: list[tuple[float, bytes]] = []

    def take(n: int) -> None:  # the board's side: each frame stamped as it arrives
        for _ in range(n):
            frame = b""
            while len(frame) < 4:
                ready, _, _ = select.select([master], [], [], 5)
                if not ready:
                    return
                frame += os.read(master, 4 - len(frame))
            received.append((time.monotonic(), frame))

    reader = threading.Thread(target=take, args=(6,))
    reader.start()
    try:
        board.set_amplifiers(True, GAP_S)
        assert board.read().amplifiers == [True, True, True]
        board.set_amplifiers(False, GAP_S)
        assert board.read().amplifiers == [False, False, False]
        reader.join(10)
    finally:
        board.stop()
        os.close(master)
        os.close(slave)
    assert [f for _, f in received] == [
        command(1, True),
        command(2, True),
        command(3, True),
        command(3, False),
        command(2, False),
        command(1, False),
    ]
    times = [t for t, _ in received]
    assert all(g >= GAP_S * 0.75 for g in _gaps(times[:3]) + _gaps(times[3:])), received
