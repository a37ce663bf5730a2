"""On-disk store-and-forward queue: every report survives restarts and power cuts until PUBACK.

One file per message, named by a monotonically increasing number, written atomically; the
flusher publishes them in order with QoS 1 and deletes each once the broker acknowledged it.
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

    def _names(self) -> list[str]:
        return sorted(n for n in os.listdir(self.dir) if n.endswith(".json")
                      and not n.startswith("."))

    def put(self, topic: str, payload: bytes, droppable: bool = False) -> None:
        """Queue a message durably; returns once it is on disk.

        ``droppable`` marks periodic readings (health) that may be shed before events are.
        """
        record = json.dumps({"topic": topic, "payload": payload.decode()}).encode()
        with self._lock:
            name = f"{self._next:012d}{'.d' if droppable else ''}.json"
            self._next += 1
            atomic_write(self.dir / name, record)
            names = self._names()
            readings = [n for n in names if n.endswith(".d.json")]
            for old in readings[: max(0, len(readings) - self.max_droppable)]:
                (self.dir / old).unlink(missing_ok=True)
            if len(names) > self.max_items:
                for old in self._names()[: len(names) - self.max_items]:
                    (self.dir / old).unlink(missing_ok=True)
        self.changed.set()

    def pending(self, limit: int = 50) -> list[OutboxItem]:
        """Oldest first; unreadable files (should not happen) are dropped with a warning."""
        items = []
        for name in self._names()[:limit]:
            path = self.dir / name
            try:
                record = json.loads(path.read_bytes())
                items.append(OutboxItem(path, record["topic"], record["payload"].encode()))
            except FileNotFoundError:
                continue
            except (OSError, ValueError, KeyError):
                log.warning("dropping unreadable outbox file %s", path)
                path.unlink(missing_ok=True)
        return items

    def remove(self, item: OutboxItem) -> None:
        item.path.unlink(missing_ok=True)

    def __len__(self) -> int:
        return len(self._names())
