"""A loudspeaker-cluster MCU in Python, on the far side of a pseudo-terminal.

Speaks the protocol of docs/firmware-protocol.md, keeps the state a real board would
(amplifiers, input, volume, FM, mains, battery, temperature, door, speaker-line currents) and
takes faults on command: a dead speaker line, mains lost, door opened, over-temperature, line
noise, a slow or silent MCU, and the cable pulled out and plugged back in. Used by the tests
and by ``loalang demo``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import codec, serial_pty
from .framing import FrameDecoder, FrameError, Packet, encode

NOMINAL_LINE_MA = 180


@dataclass
class BoardState:
    channels: int = 2
    amplifiers: int = 0
    source: int = codec.InputSource.ip
    volume: int = 80
    fm_10khz: int = 10370
    mains: int = 1
    battery_mv: int = 13200
    temperature_dc: int = 310
    door_open: int = 0
    dead_lines: set[int] = field(default_factory=set)
    started: float = field(default_factory=time.monotonic)

    def line_ma(self) -> tuple[int, ...]:
        return tuple(
            NOMINAL_LINE_MA if self.amplifiers >> ch & 1 and ch not in self.dead_lines else 0
            for ch in range(self.channels)
        )


class McuSimulator:
    """Run with ``start()``; the agent opens ``port`` (a stable symlink to the pty)."""

    def __init__(self, port: Path, channels: int = 2, firmware: str = "sim-1.0"):
        self.port = port
        self.state = BoardState(channels=channels)
        self.firmware = firmware
        self.response_delay_s = 0.0
        self.silent = False
        self.drop_next = 0  # requests to ignore, as if their frames were lost on the line
        self.received: list[codec.Message] = []
        self.watchdog_s = 10.0  # amplifiers off after this long without a valid frame
        self.amplifier_log: list[tuple[float, int]] = []  # (time.time(), mask) at each change
        self.volume_log: list[tuple[float, int]] = []  # (time.time(), level) at each SetVolume
        self._last_ping = time.monotonic()
        self._master: int | None = None
        self._slave: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._event_seq = 0

    # --- lifecycle: plugging and unplugging ------------------------------------------------

    def start(self) -> McuSimulator:
        self._plug()
        return self

    def _plug(self) -> None:
        self._master, self._slave = serial_pty.plug(self.port)
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="mcu-sim", daemon=True)
        self._thread.start()

    def unplug(self) -> None:
        """The cable is pulled: the port disappears."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)
        serial_pty.unplug(self.port, self._master, self._slave)
        self._master = self._slave = None

    def replug(self) -> None:
        self._plug()
        self.emit(codec.Booted(reason=0))

    def stop(self) -> None:
        self.unplug()

    # --- faults --------------------------------------------------------------------------

    def kill_line(self, channel: int) -> None:
        self.state.dead_lines.add(channel)

    def lose_mains(self) -> None:
        self.state.mains = 0
        self.state.battery_mv = 12400
        self.emit(codec.MainsChanged(present=0, battery_mv=self.state.battery_mv))

    def restore_mains(self) -> None:
        self.state.mains = 1
        self.emit(codec.MainsChanged(present=1, battery_mv=self.state.battery_mv))

    def open_door(self) -> None:
        self.state.door_open = 1
        self.emit(codec.DoorChanged(open=1))

    def overheat(self, temperature_dc: int = 720) -> None:
        self.state.temperature_dc = temperature_dc
        self.emit(codec.OverTemperature(temperature_dc=temperature_dc))

    def noise(self, data: bytes) -> None:
        """Line noise: raw bytes on the wire."""
        self._write(data)

    # --- the wire ------------------------------------------------------------------------

    def emit(self, event: codec.Message) -> None:
        with self._lock:
            self._event_seq = (self._event_seq + 1) % 256
            seq = self._event_seq
        self._write(encode(codec.to_packet(event, seq)))

    def _write(self, data: bytes) -> None:
        serial_pty.write(self._master, data)

    def _serve(self) -> None:
        decoder = FrameDecoder()
        fd = self._master
        while not self._stop.is_set() and fd is not None:
            data = serial_pty.read(fd, 0.05)
            if data is None:
                return
            for item in decoder.feed(data):
                if isinstance(item, Packet):
                    self._answer(item)
            self._watchdog()

    def _watchdog(self) -> None:
        if self.state.amplifiers and time.monotonic() - self._last_ping > self.watchdog_s:
            self._set_amplifiers(0)

    def _set_amplifiers(self, mask: int) -> None:
        if mask != self.state.amplifiers:
            self.state.amplifiers = mask
            self.amplifier_log.append((time.time(), mask))

    def _answer(self, packet: Packet) -> None:
        if self.silent:
            return
        if self.drop_next:
            self.drop_next -= 1
            return
        if self.response_delay_s:
            time.sleep(self.response_delay_s)
        if packet.version != 1:
            reply: codec.Message = codec.Error(codec.ErrorCode.bad_version, packet.type)
        else:
            try:
                message = codec.from_packet(packet)
            except (codec.CodecError, ValueError):
                known = packet.type in codec.REQUESTS
                reply = codec.Error(
                    codec.ErrorCode.bad_body if known else codec.ErrorCode.unknown_type, packet.type
                )
            else:
                self.received.append(message)
                self._last_ping = time.monotonic()  # any valid frame feeds the watchdog
                reply = self._apply(message)
        self._write(encode(codec.to_packet(reply, packet.seq)))

    def _apply(self, message: codec.Message) -> codec.Message:
        s = self.state
        if isinstance(message, codec.Ping):
            return codec.Pong(uptime_s=int(time.monotonic() - s.started))
        if isinstance(message, codec.GetStatus):
            return codec.Status(
                s.mains,
                s.battery_mv,
                s.temperature_dc,
                s.door_open,
                s.amplifiers,
                s.source,
                s.volume,
                s.line_ma(),
            )
        if isinstance(message, codec.GetInfo):
            return codec.Info(1, s.channels, self.firmware)
        if isinstance(message, codec.SetAmplifier):
            if message.channel != codec.ALL_CHANNELS and message.channel >= s.channels:
                return codec.Error(codec.ErrorCode.out_of_range, message.TYPE)
            mask = (
                (1 << s.channels) - 1
                if message.channel == codec.ALL_CHANNELS
                else 1 << message.channel
            )
            self._set_amplifiers(s.amplifiers | mask if message.on else s.amplifiers & ~mask)
        elif isinstance(message, codec.SetInput):
            s.source = message.source
        elif isinstance(message, codec.SetVolume):
            s.volume = message.level
            self.volume_log.append((time.time(), message.level))
        elif isinstance(message, codec.TuneFm):
            s.fm_10khz = message.freq_10khz
        else:
            return codec.Error(codec.ErrorCode.unknown_type, message.TYPE)
        return codec.Ok(request_type=message.TYPE)


__all__ = ["McuSimulator", "BoardState", "FrameError"]
