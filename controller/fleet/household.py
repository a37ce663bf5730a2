"""A home receiver's household controls as the station keeps them: the latest knob and
switch (``household.controls``), newer reports only (they may come out of order)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from protocol.messages import HouseholdControlsEvent, to_builtins

from ..db.models import Device


def apply_controls(session: Session, device_id: str, event: HouseholdControlsEvent) -> None:
    device = session.get(Device, device_id)
    if device is None:
        return
    data = to_builtins(event)
    if str((device.household or {}).get("ts", "")) <= data["ts"]:
        device.household = {"volume": event.volume, "on": event.on, "ts": data["ts"]}
