"""Reconnect backoff: bounded, growing while failures last, spread between agents."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from edge_agent.backoff import Backoff


@given(st.integers(0, 2**32), st.floats(0.1, 5), st.floats(5, 120))
def test_delays_stay_within_base_and_cap(seed, base, cap):
    rng = random.Random(seed)
    backoff = Backoff(base, cap, uniform=rng.uniform)
    for _ in range(50):
        assert base <= backoff.next() <= cap


def test_delays_grow_while_failing_and_start_over_after_reset():
    backoff = Backoff(1, 60, uniform=lambda lo, hi: hi)  # the largest draw each time
    assert [backoff.next() for _ in range(5)] == [3, 9, 27, 60, 60]
    backoff.reset()
    assert backoff.next() == 3


def test_a_thousand_agents_do_not_come_back_in_the_same_second():
    rng = random.Random(7)
    first_retry = [Backoff(1, 60, uniform=rng.uniform).next() for _ in range(1000)]
    per_second = {}
    for delay in first_retry:
        per_second[int(delay)] = per_second.get(int(delay), 0) + 1
    assert max(per_second.values()) < 600  # spread over [1, 3) s, not one burst
    assert min(first_retry) >= 1
    assert max(first_retry) <= 3
