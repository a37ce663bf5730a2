"""A home receiver's household: its own volume knob and on/off switch, kept on disk, changed
through the local control its buttons call (``local_control.py``), reported to the station
as they change. It decides whether a play sounds on the receiver and how loud; pure but for
the small JSON file it keeps."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from protocol.messages import HouseholdControlsEvent, PlayCommand, Priority, utcnow

from .fsutil import atomic_write, read_json

log = logging.getLogger(__name__)

DEFAULT_FLOOR = 60
"""An emergency's least level (percent of the indoor scale) when the command names none."""


class Household:
    """The household's knob (``volume``, percent of the indoor scale) and switch (``on``).

    ``indoor_max`` is the receiver's full scale as a share of the station's sound level:
    a home speaker at 100 % of its knob plays at ``indoor_max`` % of a horn's samples."""

    def __init__(
        self,
        path: Path,
        device_id: str,
        report: Callable[[Any], None],
        indoor_max: int = 40,
        volume: int = 50,
    ):
        self._path = path
        self._device_id = device_id
        self._report = report
        self.indoor_max = indoor_max
        self._lock = threading.Lock()
        data = read_json(path, {})
        self.volume: int = _percent(data.get("volume", volume))
        self.on: bool = bool(data.get("on", True))

    def set(self, volume: int | None = None, on: bool | None = None) -> HouseholdControlsEvent:
        """The household turned the knob or pressed the switch: kept, then reported (even
        when nothing changed: the button was pressed, the station learns the state again)."""
        with self._lock:
            if volume is not None:
                self.volume = _percent(volume)
            if on is not None:
                self.on = bool(on)
            atomic_write(self._path, json.dumps({"volume": self.volume, "on": self.on}).encode())
            event = self.controls()
        log.info("household: volume %d%%, %s", event.volume, "on" if event.on else "off")
        self._report(event)
        return event

    def controls(self) -> HouseholdControlsEvent:
        return HouseholdControlsEvent(
            event_id=uuid.uuid4().hex,
            device_id=self._device_id,
            ts=utcnow(),
            volume=self.volume,
            on=self.on,
        )

    def admits(self, cmd: PlayCommand) -> bool:
        """Switched off, a receiver plays emergencies only."""
        return self.on or cmd.priority == Priority.emergency

    def level(self, cmd: PlayCommand, station_volume: int) -> int:
        """The software gain (percent of full scale) for ``cmd``: the play's volume, the
        station's for this device and the household's knob, on the indoor scale; an emergency
        never under the station's floor, whatever the knob says (or the switch)."""
        if cmd.priority == Priority.emergency:
            floor = DEFAULT_FLOOR if cmd.receiver_floor is None else cmd.receiver_floor
            knob = self.volume if self.on else 0
            return round(max(knob, floor) * self.indoor_max / 100)
        play = 100 if cmd.volume is None else cmd.volume
        return round(play * station_volume * self.volume * self.indoor_max / 100**3)


def _percent(value: Any) -> int:
    return max(0, min(100, int(value)))
