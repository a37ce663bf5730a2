"""What the agent needs from a cluster's hardware, whatever board it is."""

from __future__ import annotations

from collections.abc import Callable
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


class ClusterBoard:
    """The narrow interface every board implements (amplifier power, volume, readings)."""

    name = "none"
    hardware_volume = False  # True: set_volume changes the analogue gain on the board
    senses_lines = False  # True: readings carry speaker-line currents

    def start(self, on_notice: NoticeHandler) -> None:
        """Open the port and start whatever background work the board needs."""

    def stop(self) -> None:
        """Close the port."""

    def set_amplifiers(self, on: bool) -> None:
        """Power every amplifier channel on or off; raises HardwareError."""

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
