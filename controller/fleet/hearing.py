"""What a cluster's microphone reported, stored: a play's verdict on its delivery (and as the
device's latest, for the "heard" map), a calibration on the device. Features only ever
arrive here (protocol: ``playback.heard``, ``hearing.calibrated``), never audio."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from protocol.messages import HearingCalibratedEvent, PlaybackHeardEvent, to_builtins

from ..db.models import Delivery, Device


def _heard(event: PlaybackHeardEvent) -> dict[str, Any]:
    data = to_builtins(event)
    return {
        k: data[k]
        for k in ("verdict", "score", "level_db", "delay_ms", "snr_db", "detail", "ts", "play_id")
        if data.get(k) is not None
    }


def apply_heard(
    session: Session, device_id: str, delivery: Delivery | None, event: PlaybackHeardEvent
) -> None:
    heard = _heard(event)
    if delivery is not None:
        delivery.hearing = heard
    device = session.get(Device, device_id)
    if device is not None:
        last = (device.hearing or {}).get("last") or {}
        if str(last.get("ts", "")) <= heard["ts"]:  # reports may come out of order
            device.hearing = {**(device.hearing or {}), "last": heard}


def apply_calibration(session: Session, device_id: str, event: HearingCalibratedEvent) -> None:
    device = session.get(Device, device_id)
    if device is None:
        return
    data = to_builtins(event)
    calibration = {k: data.get(k) for k in ("ok", "gain_db", "snr_db", "detail", "ts")}
    device.hearing = {**(device.hearing or {}), "calibration": calibration}
