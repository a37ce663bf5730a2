"""The host link against the MCU simulator over a real pseudo-terminal."""

from __future__ import annotations

import pytest

from firmware_bridge import codec
from firmware_bridge.link import McuLink, McuRefused, McuTimeout
from firmware_bridge.simulator import McuSimulator
from tests.support.stack import wait_for


@pytest.fixture
def board(tmp_path):
    sim = McuSimulator(tmp_path / "ttyMCU", channels=2).start()
    events: list[codec.Message] = []
    # the agent's own timeout and retries: a loaded CI machine answers a pty slowly
    link = McuLink(str(sim.port), on_event=events.append, timeout_s=0.5, retries=2).start()
    assert link.connected.wait(5)
    yield sim, link, events
    link.stop()
    sim.stop()


def test_every_command_and_reading(board):
    sim, link, _ = board
    assert isinstance(link.request(codec.Ping()), codec.Pong)
    info = link.request(codec.GetInfo())
    assert (info.protocol, info.channels, info.firmware) == (1, 2, "sim-1.0")
    assert link.request(codec.SetAmplifier(codec.ALL_CHANNELS, 1)) == codec.Ok(0x03)
    assert link.request(codec.SetInput(codec.InputSource.fm)) == codec.Ok(0x04)
    assert link.request(codec.SetVolume(55)) == codec.Ok(0x05)
    assert link.request(codec.TuneFm(9910)) == codec.Ok(0x06)
    status = link.request(codec.GetStatus())
    assert (status.amplifiers, status.source, status.volume) == (0b11, 1, 55)
    assert status.line_ma == (180, 180)
    assert status.mains == 1
    assert status.door_open == 0
    assert sim.state.fm_10khz == 9910
    with pytest.raises(McuRefused) as refused:
        link.request(codec.SetAmplifier(7, 1))
    assert refused.value.error.code == codec.ErrorCode.out_of_range


def test_faults_are_seen_as_readings_and_events(board):
    sim, link, events = board
    link.request(codec.SetAmplifier(codec.ALL_CHANNELS, 1))
    sim.kill_line(1)
    assert link.request(codec.GetStatus()).line_ma == (180, 0)
    sim.lose_mains()
    sim.open_door()
    sim.overheat(750)
    wait_for(lambda: len(events) == 3, 10, what="three events")
    assert events == [
        codec.MainsChanged(0, 12400),
        codec.DoorChanged(1),
        codec.OverTemperature(750),
    ]
    status = link.request(codec.GetStatus())
    assert (status.mains, status.door_open, status.temperature_dc) == (0, 1, 750)


def test_noise_on_the_line_does_not_break_the_next_request(board):
    sim, link, _ = board
    sim.noise(b"\xff\x13garbage\x00\x02\x01\x00" + bytes(range(1, 200)))
    assert isinstance(link.request(codec.Ping()), codec.Pong)
    wait_for(lambda: link.frame_errors >= 1, 2, what="a frame error counted")


def test_lost_request_is_retried_slow_answers_wait_and_silent_mcu_times_out(board):
    sim, link, _ = board
    sim.drop_next = 1  # the first frame is lost on the line: the retry gets through
    assert isinstance(link.request(codec.Ping(), timeout_s=0.3, retries=1), codec.Pong)
    assert len([m for m in sim.received if isinstance(m, codec.Ping)]) == 1
    sim.response_delay_s = 0.15  # slow, within the timeout
    assert link.request(codec.SetVolume(30), timeout_s=0.5, retries=0) == codec.Ok(0x05)
    sim.response_delay_s = 0
    sim.silent = True
    with pytest.raises(McuTimeout):
        link.request(codec.Ping())
    sim.silent = False
    assert isinstance(link.request(codec.Ping()), codec.Pong)


def test_cable_pulled_and_plugged_back(board):
    sim, link, _ = board
    sim.unplug()
    wait_for(lambda: not link.connected.is_set(), 3, what="link lost")
    with pytest.raises(McuTimeout):
        link.request(codec.Ping(), retries=0)
    sim.replug()
    assert link.connected.wait(5)
    assert isinstance(link.request(codec.Ping()), codec.Pong)


def test_watchdog_switches_the_amplifiers_off_when_the_host_goes_quiet(board):
    sim, link, _ = board
    sim.watchdog_s = 0.5
    link.request(codec.SetAmplifier(codec.ALL_CHANNELS, 1))
    assert sim.state.amplifiers == 0b11
    wait_for(lambda: sim.state.amplifiers == 0, timeout=5, what="watchdog")
    assert sim.amplifier_log[-1][1] == 0
