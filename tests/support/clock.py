"""A clock for the player's tests that does not move (the player takes its clock injected):
what a play computes from it is exact, however loaded the machine."""

from __future__ import annotations

import threading
from datetime import datetime


class StoppedClock:
    def __init__(self, at: datetime):
        self.at = at

    def now(self) -> datetime:
        return self.at

    def wait_until(self, when: datetime, cancel: threading.Event) -> bool:
        """Time never comes: a wait for the past returns at once, one for the future only
        when cancelled."""
        if when <= self.at:
            return False
        cancel.wait()
        return True
