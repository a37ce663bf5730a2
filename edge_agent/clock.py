"""The agent's clock, injected where timing matters so tests can move it.

On a Pi the wall clock is NTP-disciplined; plays start at absolute instants of it, so
neighbouring clusters start together.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current wall-clock time, aware, in UTC."""
        ...

    def wait_until(self, when: datetime, cancel: threading.Event) -> bool:
        """Sleep until ``when``; True as soon as ``cancel`` is set (False when ``when`` came)."""
        ...


class SystemClock:
    """The machine's wall clock, waiting with ~1 ms precision (coarse sleeps, then a spin)."""

    def __init__(self, offset: timedelta = timedelta(0)):
        self._offset = offset.total_seconds()  # a test's clock that runs ahead or behind

    def now(self) -> datetime:
        return datetime.fromtimestamp(time.time() + self._offset, timezone.utc)

    def wait_until(self, when: datetime, cancel: threading.Event) -> bool:
        target = when.timestamp() - self._offset
        while True:
            if cancel.is_set():
                return True
            remaining = target - time.time()
            if remaining <= 0:
                return False
            if remaining > 0.005:
                cancel.wait(min(remaining - 0.003, 1.0))
            else:
                time.sleep(0.0005)
