"""Log-in throttling as a pure rule: counts of failures in, a verdict out."""

from __future__ import annotations

from datetime import timedelta

from controller.domain.login_throttle import Count, Failures, Scope, judge
from protocol.messages import utcnow

NOW = utcnow()


def _n(failures: int, ago_s: float = 0.0) -> Count:
    return Count(failures, NOW - timedelta(seconds=ago_s))


def test_a_name_tried_from_one_address_is_slowed_with_a_doubling_wait_then_refused():
    assert judge(Failures(name_and_address=_n(2)), False, NOW).allowed
    third = judge(Failures(name_and_address=_n(3)), False, NOW)
    assert (third.allowed, third.scope, third.retry_after_s, third.refused) == (
        False,
        Scope.name_and_address,
        2,
        False,
    )
    assert judge(Failures(name_and_address=_n(5)), False, NOW).retry_after_s == 8
    assert judge(Failures(name_and_address=_n(5, ago_s=9)), False, NOW).allowed  # waited
    refused = judge(Failures(name_and_address=_n(10, ago_s=60)), False, NOW)
    assert refused.refused
    assert refused.retry_after_s == 15 * 60 - 60


def test_a_name_tried_from_everywhere_is_only_ever_slowed():
    verdict = judge(Failures(name=_n(500)), False, NOW)
    assert verdict.scope == Scope.name
    assert not verdict.refused
    assert verdict.retry_after_s == 300  # the cap


def test_the_global_brake_slows_strangers_but_not_a_known_device():
    brake = Failures(everyone=_n(250), address=_n(1), name=_n(1))
    held = judge(brake, False, NOW)
    assert held.scope == Scope.everyone
    assert not held.refused
    assert judge(brake, True, NOW).allowed


def test_a_known_device_answers_only_for_its_own_failures():
    others = Failures(name_and_address=_n(40), address=_n(60), name=_n(100))
    assert judge(others, True, NOW).allowed
    own = judge(Failures(known_device=_n(20)), True, NOW)
    assert own.scope == Scope.known_device
    assert own.refused


def test_the_longest_hold_is_the_answer():
    verdict = judge(Failures(name_and_address=_n(4), address=_n(50)), False, NOW)
    assert verdict.scope == Scope.address
    assert verdict.refused
