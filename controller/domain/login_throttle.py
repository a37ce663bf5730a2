"""Log-in throttling that a stranger cannot turn against a user. Pure: counts of failed log-ins
in, a verdict out.

Lock-out per name and address let five wrong passwords from a shared address (the station's
NAT, a commune office behind one router) lock ``duyet`` out for everyone there, and one address
could try every name in turn unslowed. Now four scopes are counted over one window:

- **name and address**: slowed after a few failures (the wait doubles), refused after more;
- **address**, whatever the name: slowed, then refused (one address trying every name);
- **name**, from everywhere: only slowed, never refused (a refusal there would be a lock-out
  any stranger could cause);
- **everyone**: a global brake, only slowed (a botnet spread over many addresses and names).

A browser that logged in to a name before carries a signed "known device" cookie for it: its
attempts at that name are not held back by anyone else's failures, only by its own.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta


class Scope(str, enum.Enum):
    name_and_address = "name_and_address"
    address = "address"
    name = "name"
    everyone = "everyone"
    known_device = "known_device"  # a known device's own failures


@dataclass(frozen=True)
class Count:
    """Failures in the window for one scope, and when the last was."""

    failures: int = 0
    last: datetime | None = None


@dataclass(frozen=True)
class Failures:
    name_and_address: Count = Count()
    address: Count = Count()
    name: Count = Count()
    everyone: Count = Count()
    known_device: Count = Count()


@dataclass(frozen=True)
class Rule:
    """Slowed from ``soft`` failures on (a wait of ``base_s`` doubling per failure, at most
    ``max_s`` after the last); refused from ``hard`` (None: never) until the window ends."""

    soft: int
    hard: int | None
    base_s: float = 2.0
    max_s: float = 300.0


@dataclass(frozen=True)
class Limits:
    window: timedelta = timedelta(minutes=15)
    name_and_address: Rule = Rule(soft=3, hard=10)
    address: Rule = Rule(soft=10, hard=50)
    name: Rule = Rule(soft=20, hard=None)
    everyone: Rule = Rule(soft=200, hard=None, base_s=1.0, max_s=30.0)
    known_device: Rule = Rule(soft=5, hard=20)


@dataclass(frozen=True)
class Verdict:
    """``allowed``, or held back by ``scope`` for ``retry_after_s`` (``refused``: until the
    window ends, not merely slowed)."""

    allowed: bool
    scope: Scope | None = None
    retry_after_s: int = 0
    refused: bool = False


ALLOWED = Verdict(True)


def _held(
    rule: Rule, count: Count, now: datetime, window: timedelta, scope: Scope
) -> Verdict | None:
    if count.failures < rule.soft or count.last is None:
        return None
    if rule.hard is not None and count.failures >= rule.hard:
        left = (count.last + window - now).total_seconds()
        return Verdict(False, scope, max(1, round(left)), refused=True)
    wait = min(rule.max_s, rule.base_s * 2 ** (count.failures - rule.soft))
    left = (count.last + timedelta(seconds=wait) - now).total_seconds()
    return Verdict(False, scope, max(1, round(left + 0.49))) if left > 0 else None


def judge(
    failures: Failures, known_device: bool, now: datetime, limits: Limits = Limits()
) -> Verdict:
    """May this attempt be tried now? The first scope that holds it back says so."""
    if known_device:
        scopes = [(limits.known_device, failures.known_device, Scope.known_device)]
    else:
        scopes = [
            (limits.name_and_address, failures.name_and_address, Scope.name_and_address),
            (limits.address, failures.address, Scope.address),
            (limits.name, failures.name, Scope.name),
            (limits.everyone, failures.everyone, Scope.everyone),
        ]
    held = [
        v
        for rule, count, scope in scopes
        if (v := _held(rule, count, now, limits.window, scope)) is not None
    ]
    if not held:
        return ALLOWED
    return max(held, key=lambda v: (v.refused, v.retry_after_s))
