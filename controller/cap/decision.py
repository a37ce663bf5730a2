"""What the station does with a parsed CAP alert, decided once for ``POST /api/cap``, the
watched feeds and ``loalang cap check``: given the time to judge it at, the feed's test
village and the station's rules. Pure; the villages its areas cover, the audio and the
broadcast itself are the service's (``services/cap.py``).

``loalang cap check`` once said "OK … → emergency" (exit 0) for an alert that had expired a
year before and for a ``Test`` alert, and "no info: logged only" for a ``Cancel`` the server
applies to earlier alerts: a script could not tell "would sound" from "would be ignored".
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from .alert import Alert, Info
from .rules import CapRule, rule_for


class Verdict(str, enum.Enum):
    """The outcome, and ``loalang cap check``'s exit code for it."""

    sound = "sound"  # an emergency, an advisory, or a test in the feed's test village
    log = "log"  # recorded, nothing played (system/draft, test without a test
    # village, no info, a rule that ignores it)
    cancel = "cancel"  # a Cancel: the earlier alerts it names are cancelled
    refuse = "refuse"  # malformed or expired: refused, nothing recorded as acted on

    @property
    def exit_code(self) -> int:
        return {"sound": 0, "refuse": 1, "log": 3, "cancel": 4}[self.value]


@dataclass(frozen=True)
class Decision:
    """``action`` is what the alert is recorded as (emergency, advisory, test, logged,
    ignored, cancelled, expired); ``cancels`` whether it cancels the alerts it references (a
    Cancel, or an Update, which then sounds in their place)."""

    verdict: Verdict
    action: str
    info: Info | None
    rule: CapRule | None = None
    cancels: bool = False
    test: bool = False
    reason: str = ""


def decide(
    alert: Alert, now: datetime, rules: Iterable[CapRule], test_zone: str | None = None
) -> Decision:
    """The station's decision on ``alert`` at ``now``."""
    info = alert.info_for("vi-VN")
    if info is not None and info.expires is not None and info.expires <= now:
        return Decision(
            Verdict.refuse,
            "expired",
            info,
            reason=f"hết hạn lúc / expired at {info.expires.isoformat()}",
        )
    cancels = alert.msg_type in ("Update", "Cancel") and bool(alert.references)
    if alert.msg_type == "Cancel":
        return Decision(
            Verdict.cancel,
            "cancelled",
            info,
            cancels=cancels,
            reason="huỷ các cảnh báo trước / cancels earlier alerts",
        )
    if alert.msg_type not in ("Alert", "Update") or info is None:
        return Decision(
            Verdict.log,
            "logged",
            info,
            cancels=cancels,
            reason=f"{alert.msg_type}" + ("" if info else ", no <info>"),
        )
    if alert.status in ("System", "Draft"):
        return Decision(
            Verdict.log, "logged", info, cancels=cancels, reason=f"status {alert.status}"
        )
    test = alert.status in ("Test", "Exercise")
    if test and not test_zone:
        return Decision(
            Verdict.log,
            "logged",
            info,
            cancels=cancels,
            test=True,
            reason=f"status {alert.status}, no test village for this feed",
        )
    rule = rule_for(info, rules)
    if rule.action == "ignore":
        return Decision(
            Verdict.log,
            "ignored",
            info,
            rule,
            cancels=cancels,
            test=test,
            reason=f"{info.urgency}/{info.severity}/{info.certainty}: the rules ignore it",
        )
    return Decision(
        Verdict.sound, "test" if test else rule.action, info, rule, cancels=cancels, test=test
    )
