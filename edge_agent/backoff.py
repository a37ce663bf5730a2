"""Reconnect delays with jitter, so a village of agents does not hammer a broker that just came
back all in the same second. Pure: the random source is injected."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """ "Decorrelated jitter": each delay is random in [base, 3 × previous], capped at ``cap``."""

    def __init__(
        self,
        base: float = 1.0,
        cap: float = 60.0,
        uniform: Callable[[float, float], float] = random.uniform,
    ):
        if not 0 < base <= cap:
            raise ValueError("need 0 < base <= cap")
        self.base = base
        self.cap = cap
        self._uniform = uniform
        self._previous = base

    def next(self) -> float:
        self._previous = min(self.cap, self._uniform(self.base, self._previous * 3))
        return self._previous

    def reset(self) -> None:
        self._previous = self.base
