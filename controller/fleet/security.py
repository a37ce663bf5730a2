"""What the controller itself records as a device's security events: reports it refused
(``fleet/evidence.py``) and the broker's refusals (``broker/denials.py``). Each is a row in the
device's log (``type = "security"``, as the agents' own refusals) and counts up one open
``security`` alarm per device, so a technician sees it without a flood of rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from protocol.messages import to_builtins

from ..db.models import Alarm
from ..domain.report_checks import Refusal

SECURITY_ALARM = "security"
"""The controller's alarm code (and key) for a device whose log-in tried what it may not."""


def refused_row(
    device_id: str, kind: str, model: Any, refusal: Refusal, now: datetime
) -> dict[str, Any]:
    """A refused report, kept under its own event id (so it is receipted, and stored once)
    as a security event: what it claimed, and why it was not believed."""
    report = to_builtins(model)
    return dict(
        event_id=model.event_id,
        device_id=device_id,
        type="security",
        ts=now,
        received_at=now,
        play_id=None,
        payload={
            "type": "security",
            "reason": "report_refused",
            "detail": refusal.value,
            "report_kind": kind,
            "report_type": report.get("type", kind),
            "report": report,
        },
    )


def security_alarm(
    session: Session, device_id: str, detail: str, now: datetime, count: int = 1
) -> None:
    """Open the device's ``security`` alarm, or count up the one not yet acknowledged."""
    alarm = session.scalars(
        select(Alarm)
        .where(
            Alarm.device_id == device_id,
            Alarm.key == SECURITY_ALARM,
            Alarm.acknowledged_at.is_(None),
        )
        .order_by(Alarm.id.desc())
        .limit(1)
    ).first()
    if alarm is not None:
        alarm.occurrences += count
        alarm.detail = detail[:300]
        return
    # an event, not a condition: cleared at once, open until a technician acknowledges it
    session.add(
        Alarm(
            device_id=device_id,
            key=SECURITY_ALARM,
            code=SECURITY_ALARM,
            raised_at=now,
            cleared_at=now,
            occurrences=count,
            detail=detail[:300],
        )
    )
