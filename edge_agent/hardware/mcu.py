"""A cluster control board speaking docs/firmware-protocol.md over a serial port."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from firmware_bridge import codec
from firmware_bridge.framing import PROTOCOL_VERSION
from firmware_bridge.link import McuLink, McuRefused, McuTimeout
from protocol.messages import HardwareReadings

from .base import BoardNotice, ClusterBoard, HardwareError, NoticeHandler

log = logging.getLogger(__name__)

HEARTBEAT_S = 2.0  # the MCU switches the amplifiers off after 10 s without one


class McuBoard(ClusterBoard):
    name = "mcu"
    hardware_volume = True
    senses_lines = True
    fm_tuner = True

    def __init__(self, port: str, baudrate: int = 115200):
        self._link = McuLink(port, on_event=self._on_event, baudrate=baudrate)
        self._on_notice: NoticeHandler = lambda notice: None
        self._info: codec.Info | None = None
        self._uptime_s: int | None = None
        self._fm_10khz: int | None = None  # the tuner feeds the amplifiers (listen_fm)
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, name="mcu-heartbeat", daemon=True)

    def start(self, on_notice: NoticeHandler) -> None:
        self._on_notice = on_notice
        self._link.start()
        self._heartbeat.start()

    def stop(self) -> None:
        self._stop.set()
        self._link.stop()

    def _beat(self) -> None:
        was_connected = False
        while not self._stop.wait(HEARTBEAT_S):
            try:
                pong = self._link.request(codec.Ping(), retries=0)
                assert isinstance(pong, codec.Pong)
                rebooted = self._uptime_s is not None and pong.uptime_s < self._uptime_s
                self._uptime_s = pong.uptime_s
                if not was_connected or rebooted:
                    # A (re)opened port or a board that restarted: it may have lost our state.
                    self._info = None
                    self._on_notice(BoardNotice("rebooted"))
                was_connected = True
            except (McuTimeout, McuRefused):
                was_connected = False

    def _on_event(self, message: codec.Message) -> None:
        if isinstance(message, codec.LineFault):
            self._on_notice(
                BoardNotice("line_fault", channel=message.channel, value=message.current_ma)
            )
        elif isinstance(message, codec.Booted):
            self._on_notice(BoardNotice("rebooted"))
        else:
            self._on_notice(BoardNotice("changed"))

    def _request(self, message: codec.Message) -> codec.Message:
        if not self._link.connected.is_set():
            raise HardwareError(f"serial port {self._link.port} is not open")
        try:
            return self._link.request(message)
        except (McuTimeout, McuRefused) as exc:
            raise HardwareError(str(exc)) from None

    def _board_info(self) -> codec.Info:
        """The board's INFO, asked once per (re)connection."""
        info = self._info
        if info is None:
            info = self._request(codec.GetInfo())
            assert isinstance(info, codec.Info)
            if info.protocol != PROTOCOL_VERSION:
                log.error(
                    "board speaks protocol %d, this agent %d", info.protocol, PROTOCOL_VERSION
                )
                raise HardwareError("unsupported protocol version")
            self._info = info
        return info

    @property
    def channels(self) -> int:
        return self._board_info().channels

    def set_channel(self, channel: int, on: bool) -> None:
        self._request(codec.SetAmplifier(channel, int(on)))

    def set_amplifiers(
        self, on: bool, gap_s: float = 0.0, wait: Callable[[float], object] = time.sleep
    ) -> None:
        super().set_amplifiers(on, gap_s, wait)
        if on:  # the Pi's audio, unless a relay went to the tuner while the channels switched
            fm = self._fm_10khz is not None
            self._request(codec.SetInput(codec.InputSource.fm if fm else codec.InputSource.ip))

    def set_volume(self, level: int) -> None:
        self._request(codec.SetVolume(level))

    def listen_fm(self, freq_10khz: int | None) -> None:
        self._fm_10khz = freq_10khz
        if freq_10khz is None:
            self._request(codec.SetInput(codec.InputSource.ip))
            return
        self._request(codec.TuneFm(freq_10khz))
        self._request(codec.SetInput(codec.InputSource.fm))

    def read(self) -> HardwareReadings:
        try:
            info = self._board_info()
            status = self._request(codec.GetStatus())
            assert isinstance(status, codec.Status)
        except HardwareError:
            return HardwareReadings(backend=self.name, connected=False)
        channels = len(status.line_ma)
        try:
            source = codec.InputSource(status.source).name
        except ValueError:
            source = str(status.source)
        return HardwareReadings(
            backend=self.name,
            connected=True,
            firmware=info.firmware,
            mcu_uptime_s=self._uptime_s,
            mains=bool(status.mains),
            battery_v=round(status.battery_mv / 1000, 2),
            temperature_c=round(status.temperature_dc / 10, 1),
            door_open=bool(status.door_open),
            amplifiers=[bool(status.amplifiers >> ch & 1) for ch in range(channels)],
            input=source,
            volume=status.volume,
            line_ma=list(status.line_ma),
        )
