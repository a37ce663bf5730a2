"""What makes the public pages safe to put on the internet: a per-address rate limit (a
token bucket: a burst, then a steady pace) and a short cache of what was rendered, so a
village sharing the link on Zalo at once costs one database read, not hundreds."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class RateLimit:
    """At most ``burst`` requests at once from one address, then ``per_minute``."""

    def __init__(self, per_minute: float = 120, burst: int = 40, addresses: int = 10_000):
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._addresses = addresses
        self._lock = threading.Lock()

    def allow(self, address: str, now: float | None = None) -> float:
        """0 if this request may go on, else the seconds to wait before the next."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, at = self._buckets.pop(address, (self._burst, now))
            tokens = min(self._burst, tokens + (now - at) * self._rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self._rate
            self._buckets[address] = (tokens - 1 if tokens >= 1 else tokens, now)
            while len(self._buckets) > self._addresses:  # the oldest addresses go first
                self._buckets.popitem(last=False)
        return wait


class TtlCache(Generic[T]):
    """Values kept ``ttl_s`` seconds (at most ``size`` of them), made once when missing."""

    def __init__(self, ttl_s: float = 30.0, size: int = 256):
        self._ttl = ttl_s
        self._size = size
        self._items: OrderedDict[str, tuple[float, T]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, make: Callable[[], T]) -> T:
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and now - hit[0] < self._ttl:
                return hit[1]
        value = make()
        with self._lock:
            self._items[key] = (now, value)
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
