"""On-disk store-and-forward queue: every report survives restarts and power cuts until the
controller says it has stored it.

One file per message, named by a monotonically increasing number, written atomically; the
flusher publishes them in order with QoS 1 and deletes each once the controller's receipt
names its ``key`` (the report's event id). A file without a key (written by an older agent)
goes once the broker acknowledged it, as before.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from .fsutil import atomic_write

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutboxItem:
    path: Path
    topic: str
    payload: bytes
    key: str | None = None


DROPPABLE = ".d.json"


class Outbox:
    """Bounded: past ``max_droppable`` periodic readings the oldest go first; past ``max_items``
    in all, the oldest of anything (a device offline for months)."""

    def __init__(self, directory: Path, max_items: int = 20000, max_droppable: int = 1500):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_items = max_items
        self.max_droppable = max_droppable
        self._lock = threading.Lock()
        self.changed = threading.Event()
        for stale in self.dir.glob(".*.tmp"):  # a write cut short by a power loss
            stale.unlink(missing_ok=True)
        names = self._names()
        self._next = int(names[-1].split(".")[0]) + 1 if names else 1
        # Counted in memory so that queueing a report never lists the directory.
        self._count = len(names)
        self._readings = sum(n.endswith(DROPPABLE) for n in names)

    def _names(self) -> list[str]:
        """Queued reports, oldest first; none while the storage is gone (an SD card that
        failed or was unmounted must not kill the flush thread)."""
        try:
            listed = os.listdir(self.dir)
        except FileNotFoundError:
            return []
        return sorted(n for n in listed if n.endswith(".json") and not n.startswith("."))

    def put(
        self, topic: str, payload: bytes, droppable: bool = False, key: str | None = None
    ) -> None:
        """Queue a message durably; returns once it is on disk (``OSError`` if it cannot be).

        ``droppable`` marks periodic readings (health) that may be shed before events are;
        ``key`` is what the controller's receipt will name.
        """
        record = json.dumps({"topic": topic, "payload": payload.decode(), "key": key}).encode()
        with self._lock:
            name = f"{self._next:012d}{DROPPABLE if droppable else '.json'}"
            self._next += 1
            atomic_write(self.dir / name, record)
            self._count += 1
            self._readings += droppable
            if self._readings > self.max_droppable or self._count > self.max_items:
                self._trim()
        self.changed.set()

    def _trim(self) -> None:
        """Shed the oldest readings, then the oldest of anything, down to the limits."""
        names = self._names()
        readings = [n for n in names if n.endswith(DROPPABLE)]
        for old in readings[: max(0, len(readings) - self.max_droppable)]:
            (self.dir / old).unlink(missing_ok=True)
        names = self._names()
        for old in names[: max(0, len(names) - self.max_items)]:
            (self.dir / old).unlink(missing_ok=True)
        names = self._names()
        self._count = len(names)
        self._readings = sum(n.endswith(DROPPABLE) for n in names)

    def pending(self, limit: int = 50) -> list[OutboxItem]:
        """Oldest first; unreadable files (should not happen) are dropped with a warning."""
        items = []
        for name in self._names()[:limit]:
            path = self.dir / name
            try:
                record = json.loads(path.read_bytes())
                items.append(
                    OutboxItem(path, record["topic"], record["payload"].encode(), record.get("key"))
                )
            except FileNotFoundError:
                continue
            except (OSError, ValueError, KeyError):
                log.warning("dropping unreadable outbox file %s", path)
                self._discard(path)
        return items

    def remove(self, item: OutboxItem) -> None:
        self._discard(item.path)

    def _discard(self, path: Path) -> None:
        with self._lock:
            try:
                path.unlink()
            except FileNotFoundError:
                return  # already shed by _trim
            self._count -= 1
            self._readings -= path.name.endswith(DROPPABLE)

    def __len__(self) -> int:
        return self._count
