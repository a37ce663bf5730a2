"""States are the domain's: no state is spelled out and compared anywhere else, in code or in
a page (it is the enum's member, so a renamed or new state is found by the type checker and
the tests, not missed by a string)."""

from __future__ import annotations

import re
from pathlib import Path

from controller.domain.broadcast import BroadcastState
from controller.domain.command import CommandState
from controller.domain.delivery import DeliveryState
from controller.domain.device import DeviceStatus
from controller.domain.jobs import MediaJobState
from controller.domain.rollout import RolloutState, TargetState
from controller.domain.schedule_change import ScheduleChangeState
from controller.notices.rules import NoticeState

ROOT = Path(__file__).resolve().parents[1]
STATES = sorted(
    {
        s.value
        for enum in (
            BroadcastState,
            CommandState,
            DeliveryState,
            DeviceStatus,
            MediaJobState,
            RolloutState,
            TargetState,
            ScheduleChangeState,
            NoticeState,
        )
        for s in enum
    }
)
WORDS = "|".join(STATES)
COMPARED = re.compile(
    # a state or status (``b.state``, ``row["status"]``, ``for state in``) against a literal
    rf"""\b(?:state|status)\b[\w.'"\[\]()]*\s*(?:==|!=|\bin\b|\bnot\s+in\b)\s*"""
    rf"""[(\[{{]?\s*['"]({WORDS})['"]"""
)


def _offences(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if COMPARED.search(line):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    return found


def test_no_state_string_is_compared_outside_the_domain():
    code = [
        p
        for p in [*ROOT.glob("controller/**/*.py"), *ROOT.glob("loalang/**/*.py")]
        if "domain" not in p.parts and "migrations" not in p.parts
    ]
    pages = list(ROOT.glob("controller/web/templates/*.html"))
    assert len(code) > 100
    assert len(pages) > 20
    assert _offences(code + pages) == []
