"""What the agent needs from a cluster's hardware, whatever board it is."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from protocol.messages import HardwareReadings


class HardwareError(RuntimeError):
    """The board did not do what it was asked (unreachable, refused)."""


@dataclass(frozen=True)
class BoardNotice:
    """Something the board said on its own: readings changed, a line fault, it rebooted."""

    kind: Literal["changed", "line_fault", "rebooted"]
    channel: int | None = None
    value: float | None = None


NoticeHandler = Callable[[BoardNotice], None]


def switching_order(channels: int, on: bool) -> Iterator[int]:
    """Channels switch one by one: on from the first, off from the last (the reverse), so the
    amplifiers' inrush currents never add up on the cabinet's supply."""
    return iter(range(channels)) if on else reversed(range(channels))


class ClusterBoard:
    """The narrow interface every board implements (amplifier power, volume, readings)."""

    name = "none"
    hardware_volume = False  # True: set_volume changes the analogue gain on the board
    senses_lines = False  # True: readings carry speaker-line currents
    fm_tuner = False  # True: listen_fm feeds the amplifiers from the board's FM tuner

    def start(self, on_notice: NoticeHandler) -> None:
        """Open the port and start whatever background work the board needs."""

    def stop(self) -> None:
        """Close the port."""

    @property
    def channels(self) -> int:
        """How many amplifier channels the board switches (raises HardwareError if unknown)."""
        return 0

    def set_channel(self, channel: int, on: bool) -> None:
        """Power one amplifier channel (0-based) on or off; raises HardwareError."""

    def set_amplifiers(
        self, on: bool, gap_s: float = 0.0, wait: Callable[[float], object] = time.sleep
    ) -> None:
        """Power every channel on (first to last) or off (last to first), ``gap_s`` apart;
        ``wait`` sleeps between two switchings (the cluster passes one its stop cuts short).
        Raises HardwareError, leaving the channels already switched as they are."""
        for i, channel in enumerate(switching_order(self.channels, on)):
            if i and gap_s > 0:
                wait(gap_s)
            self.set_channel(channel, on)

    def set_volume(self, level: int) -> None:
        """Hardware volume in percent (only where ``hardware_volume``); raises HardwareError."""
        raise HardwareError("this board has no volume control")

    def listen_fm(self, freq_10khz: int | None) -> None:
        """Feed the amplifiers from the board's FM tuner at ``freq_10khz`` (None: back to the
        Pi's audio); raises HardwareError where the board has no tuner."""
        raise HardwareError("this board has no FM tuner")

    def read(self) -> HardwareReadings | None:
        """Current readings (``connected=False`` when the board does not answer), or None
        for no hardware at all."""
        return None
