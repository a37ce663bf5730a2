"""Broadcasts: send a bulletin now or at a time, follow it per device, cancel it; the logs."""

from __future__ import annotations

from fastapi import APIRouter, Query

from ..auth import Principal
from ..domain.broadcast import BroadcastState
from ..http import ServicesDep, allow
from ..services.broadcasting import BroadcastRequest
from ..services.emergencies import EmergencyRequest
from ..services.views import BroadcastOut, DeviceEventOut
from .schemas import BroadcastIn, BroadcastUpdateIn, EmergencyIn, RejectIn, RescheduleIn

router = APIRouter(tags=["broadcasts"])


@router.post("/api/broadcasts", status_code=201, response_model=BroadcastOut)
def create_broadcast(
    body: BroadcastIn, svc: ServicesDep, who: Principal = allow("broadcast.create")
) -> BroadcastOut:
    """Broadcast a stored bulletin to zones/devices/all, now or at ``start_at``.

    A broadcaster's broadcast waits for an approver (state ``pending_approval``); every
    emergency waits for a second person to confirm it (``pending_confirmation``).
    """
    request = BroadcastRequest(
        media_sha256=body.media_sha256,
        targets=list(body.targets),
        start_at=body.start_at,
        priority=body.priority,
        title=body.title,
        max_late_s=body.max_late_s,
        volume=body.volume,
        quiet_override=body.quiet_override,
        public=body.public,
    )
    if body.repeat_every_s:
        broadcast_id = svc.repeats.create(
            who, request, body.repeat_every_s, body.repeat_for_s, draft=body.draft
        )
    else:
        broadcast_id = svc.broadcasts.create(request, who, draft=body.draft)
    return svc.broadcast_queries.get(broadcast_id)


@router.post("/api/emergencies", status_code=201, response_model=BroadcastOut)
def send_emergency(
    body: EmergencyIn, svc: ServicesDep, who: Principal = allow("broadcast.create")
) -> BroadcastOut:
    """One action: a siren (or chime), then the message read aloud (or a recording), to
    every village unless ``targets`` says otherwise, optionally repeated. It waits for a
    second person, its audio already on the loudspeakers."""
    broadcast_id = svc.emergencies.send(
        who,
        EmergencyRequest(
            title=body.title,
            targets=list(body.targets),
            text=body.text,
            voice=body.voice,
            media_sha256=body.media_sha256,
            intro=body.intro,
            repeat_every_s=body.repeat_every_min * 60 if body.repeat_every_min else None,
            repeat_for_s=body.repeat_for_min * 60 if body.repeat_for_min else None,
        ),
    )
    return svc.broadcast_queries.get(broadcast_id)


@router.post(
    "/api/broadcasts/{broadcast_id}/correction", status_code=201, response_model=BroadcastOut
)
def correct_emergency(
    broadcast_id: str, svc: ServicesDep, who: Principal = allow("broadcast.create")
) -> BroadcastOut:
    """ "Thông báo nhầm": stop the false emergency (and its repetitions) and send the
    ready-made correction to the same loudspeakers; it waits for a second person."""
    return svc.broadcast_queries.get(svc.emergencies.correct(who, broadcast_id))


@router.post("/api/broadcasts/{broadcast_id}/resend", status_code=201, response_model=BroadcastOut)
def resend_missed(
    broadcast_id: str, svc: ServicesDep, who: Principal = allow("broadcast.create")
) -> BroadcastOut:
    """The same audio, now, to exactly the loudspeakers that missed it, failed or were cut
    off (held for approval like any broadcast of the caller's)."""
    return svc.broadcast_queries.get(svc.broadcasts.resend_missed(broadcast_id, who))


@router.post("/api/broadcasts/{broadcast_id}/update", response_model=list[str])
def update_broadcast(
    broadcast_id: str,
    body: BroadcastUpdateIn,
    svc: ServicesDep,
    who: Principal = allow("broadcast.create"),
) -> list[str]:
    """A new message for the repetitions of a series not yet sent (introduced by the original
    issue time); answers their ids."""
    return svc.repeats.update(who, broadcast_id, body.media_sha256)


@router.get(
    "/api/broadcasts", response_model=list[BroadcastOut], dependencies=[allow("broadcast.read")]
)
def list_broadcasts(
    svc: ServicesDep,
    limit: int = Query(50, ge=1, le=500),
    state: BroadcastState | None = Query(None, description="e.g. pending_approval"),
) -> list[BroadcastOut]:
    return svc.broadcast_queries.list(limit, state)


@router.get(
    "/api/broadcasts/{broadcast_id}",
    response_model=BroadcastOut,
    dependencies=[allow("broadcast.read")],
)
def get_broadcast(broadcast_id: str, svc: ServicesDep) -> BroadcastOut:
    """Where the broadcast stands on every device, with actual start times and skew."""
    return svc.broadcast_queries.get(broadcast_id)


@router.post("/api/broadcasts/{broadcast_id}/cancel", response_model=BroadcastOut)
def cancel_broadcast(
    broadcast_id: str, svc: ServicesDep, who: Principal = allow("broadcast.cancel")
) -> BroadcastOut:
    """Cancel before it starts (or stop it while playing: devices report 'interrupted').

    If the broker is down the cancel waits in ``commands_pending`` and is sent when it is back."""
    svc.broadcasts.cancel(broadcast_id, who)
    return svc.broadcast_queries.get(broadcast_id)


@router.post("/api/broadcasts/{broadcast_id}/submit", response_model=BroadcastOut)
def submit_draft(
    broadcast_id: str, svc: ServicesDep, who: Principal = allow("broadcast.create")
) -> BroadcastOut:
    """Its author sends a draft on, as if created now: to an approver, to a second person (an
    emergency), or straight out (an approver's or admin's own)."""
    svc.broadcasts.submit(broadcast_id, who)
    return svc.broadcast_queries.get(broadcast_id)


@router.post("/api/broadcasts/{broadcast_id}/approve", response_model=BroadcastOut)
def approve_broadcast(
    broadcast_id: str, svc: ServicesDep, who: Principal = allow("broadcast.approve")
) -> BroadcastOut:
    """An approver releases a broadcaster's broadcast (never their own)."""
    svc.broadcasts.approve(broadcast_id, who)
    return svc.broadcast_queries.get(broadcast_id)


@router.post("/api/broadcasts/{broadcast_id}/confirm", response_model=BroadcastOut)
def confirm_emergency(
    broadcast_id: str, svc: ServicesDep, who: Principal = allow("broadcast.confirm")
) -> BroadcastOut:
    """The second person of an emergency broadcast: someone other than its sender."""
    svc.broadcasts.confirm(broadcast_id, who)
    return svc.broadcast_queries.get(broadcast_id)


@router.post("/api/broadcasts/{broadcast_id}/reject", response_model=BroadcastOut)
def reject_broadcast(
    broadcast_id: str, body: RejectIn, svc: ServicesDep, who: Principal = allow("broadcast.approve")
) -> BroadcastOut:
    """Refuse a held broadcast (or an emergency nobody should confirm), with a reason."""
    svc.broadcasts.reject(broadcast_id, who, body.reason)
    return svc.broadcast_queries.get(broadcast_id)


@router.post("/api/broadcasts/{broadcast_id}/reschedule", response_model=BroadcastOut)
def reschedule_broadcast(
    broadcast_id: str,
    body: RescheduleIn,
    svc: ServicesDep,
    who: Principal = allow("broadcast.create"),
) -> BroadcastOut:
    """Give a bulletin that expired unapproved (state ``expired``) a new start ("hẹn lại"):
    it waits for approval again. Its author or an approver may."""
    svc.expiry.reschedule(broadcast_id, body.start_at, who)
    return svc.broadcast_queries.get(broadcast_id)


@router.get("/api/events", response_model=list[DeviceEventOut], dependencies=[allow("event.read")])
def list_events(
    svc: ServicesDep,
    type: str | None = Query(None, description="e.g. security, playback.finished, ack"),
    device_id: str | None = None,
    play_id: str | None = None,
    limit: int = Query(200, ge=1, le=5000),
) -> list[DeviceEventOut]:
    """Everything agents reported, newest first: the playback log and security events."""
    return svc.broadcast_queries.events(type, device_id, play_id, limit)


@router.get(
    "/api/playback-log", response_model=list[DeviceEventOut], dependencies=[allow("event.read")]
)
def playback_log(
    svc: ServicesDep, device_id: str | None = None, limit: int = Query(200, ge=1, le=5000)
) -> list[DeviceEventOut]:
    """Proof of play: finished and failed playbacks, newest first."""
    return svc.broadcast_queries.playback_log(device_id, limit)
