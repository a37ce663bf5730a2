"""Draining a worker's queue: what is already waiting is taken at once, so a burst is handled
as one batch (ingest's reports and receipts, the retained keeper's echoes)."""

from __future__ import annotations

import queue
from typing import Any


def waiting(q: queue.Queue[Any], limit: int) -> tuple[list[Any], bool]:
    """Up to ``limit`` items already in ``q``, without waiting; and whether the stop marker
    (None) came among them (what followed it is left in the queue)."""
    items = []
    while len(items) < limit:
        try:
            item = q.get_nowait()
        except queue.Empty:
            break
        if item is None:
            return items, True
        items.append(item)
    return items, False
