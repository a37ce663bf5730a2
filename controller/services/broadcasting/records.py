"""A broadcast's rows and what is read off them: the requests that make one, the devices its
targets reach, the one conditional move between states, its play as a command carries it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session, lazyload

from protocol.messages import MediaRef, Priority, StreamRef

from ...auth import Principal, hold_for
from ...db.models import Broadcast, Delivery, Device, DeviceZone, Media, Zone
from ...domain.broadcast import BroadcastState as S
from ...domain.broadcast import can_move
from ...domain.delivery import DeliveryState
from ...domain.device import DeviceKind
from ...domain.errors import Invalid, NotFound

MISSED_REASON = "no start reported in the play window (device offline, late or out of storage)"


@dataclass(frozen=True)
class BroadcastRequest:
    media_sha256: str
    targets: list[str]
    start_at: datetime | None = None
    priority: Priority = Priority.normal
    title: str = ""
    max_late_s: int | None = None
    volume: int | None = None
    quiet_override: bool = False  # play inside quiet hours on purpose (an approver decides)
    public: bool | None = None  # on the public page once aired (None: the station's default)
    repeat_every_s: int | None = None  # a series: this often, ``repeat_count`` plays in all
    repeat_count: int = 1
    repeat_media_sha256: str | None = None  # what the repetitions play (the issue time first)


@dataclass
class StreamRequest:
    """A live voice from the station or a relay (VOV, the provincial station), now or at
    ``start_at``: ``urls`` first to last are the stream and its fallbacks."""

    kind: Literal["live", "relay"]
    targets: list[str]
    urls: list[str]
    title: str = ""
    duration_s: int | None = None  # live: until it is ended (at most ``live_max_s``)
    start_at: datetime | None = None
    priority: Priority | None = None  # live: always ``live``; relay: normal unless said
    auth: bool = False  # the station's own stream server: devices listen with credentials
    source: str | None = None  # live: browser, line_in, client (shown, audited)
    mount: str | None = None  # the station's stream server's mount it plays
    broadcast_id: str | None = None  # chosen by the caller (the mount is named by it)
    fallback_media_sha256: str | None = None  # relay: plays when no URL gives sound
    silence_s: int | None = None  # dead air longer than this on a URL: the next is tried
    delay_ms: int | None = None  # a stream stamped by the station: played at capture + this


def resolve_devices(session: Session, targets: list[str]) -> list[str]:
    """Ids of the active devices a list of targets reaches, each once, sorted (never a
    stream-only receiver: it runs no agent, it hears the station's channel)."""
    ids: set[str] = set()
    sent_to = (Device.retired.is_(False), Device.kind != DeviceKind.stream_only)
    for target in targets:
        if target == "all":
            ids.update(session.scalars(select(Device.id).where(*sent_to)))
            continue
        kind, _, ident = target.partition(":")
        if kind == "zone":
            if session.get(Zone, ident) is None:
                raise NotFound("zone.not_found", id=ident)
            ids.update(
                session.scalars(
                    select(Device.id)
                    .join(DeviceZone, DeviceZone.device_id == Device.id)
                    .where(DeviceZone.zone_id == ident, *sent_to)
                )
            )
        elif kind == "device":
            device = session.get(Device, ident)
            if device is None or device.retired:
                raise NotFound("device.not_found", id=ident)
            if not device.kind.runs_agent:
                raise Invalid("device.stream_only", id=ident)
            ids.add(ident)
    return sorted(ids)


def claim(session: Session, broadcast_id: str, source: S, dest: S) -> bool:
    """Move ``source`` → ``dest`` if the broadcast is still in ``source`` (a move the state
    machine allows: ``domain.broadcast.can_move``). Conditional: two workers (or two
    controllers) never both make the same move."""
    if not can_move(source, dest):
        raise ValueError(f"a broadcast never moves from {source.value} to {dest.value}")
    result = session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast_id, Broadcast.state == source)
        .values(state=dest)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def store(
    session: Session,
    device_ids: list[str],
    broadcast: Broadcast,
    variants: dict[str, str] | None = None,
) -> None:
    """The broadcast row and one pending delivery per device it reaches; ``variants``: the
    devices that play only some of its language versions, and that media."""
    session.add(broadcast)
    for device_id in device_ids:
        session.add(
            Delivery(
                broadcast_id=broadcast.id,
                device_id=device_id,
                state=DeliveryState.pending,
                updated_at=broadcast.created_at,
                media_sha256=(variants or {}).get(device_id),
            )
        )


def variants_of(session: Session, broadcast_id: str) -> list[tuple[str, Media | None]]:
    """Each device and the language versions it plays (None: the whole bulletin), when any
    device plays only some; empty when every device plays the whole bulletin."""
    routed = session.scalar(
        select(Delivery.id)
        .where(Delivery.broadcast_id == broadcast_id, Delivery.media_sha256.is_not(None))
        .limit(1)
    )
    if routed is None:  # (an emergency's thousands of deliveries are not read for nothing)
        return []
    rows = list(
        session.execute(
            select(Delivery.device_id, Delivery.media_sha256)
            .where(Delivery.broadcast_id == broadcast_id)
            .order_by(Delivery.device_id)
        )
    )
    media = {sha: session.get(Media, sha) for sha in {m for _, m in rows if m}}
    return [(device_id, media.get(sha) if sha else None) for device_id, sha in rows]


def get_row(session: Session, broadcast_id: str, deliveries: bool = True) -> Broadcast:
    """The broadcast; with its deliveries loaded at once unless ``deliveries`` is False
    (then read on first use, inside the session: an emergency has thousands)."""
    broadcast = session.get(
        Broadcast, broadcast_id, options=[] if deliveries else [lazyload(Broadcast.deliveries)]
    )
    if broadcast is None:
        raise NotFound("broadcast.not_found")
    return broadcast


def later_in_series(session: Session, broadcast: Broadcast) -> list[Broadcast]:
    """The repetitions after this one in its series, in order."""
    if broadcast.series_id is None:
        return []
    return list(
        session.scalars(
            select(Broadcast)
            .where(
                Broadcast.series_id == broadcast.series_id,
                Broadcast.repeat_index > broadcast.repeat_index,
            )
            .order_by(Broadcast.repeat_index)
        )
    )


def hold_of(who: Principal, priority: Priority) -> S | None:
    """What a broadcast from ``who`` waits for (None: nobody)."""
    hold = hold_for(who.roles, priority == Priority.emergency)
    return S(hold) if hold else None


def media_ref(media: Media) -> MediaRef:
    return MediaRef(
        sha256=media.sha256,
        url=f"/media/{media.sha256}",
        size=media.size,
        duration_ms=media.duration_ms,
        mime=media.mime,
    )


def playable(session: Session, broadcast: Broadcast) -> dict[str, Any]:
    """What a play command carries: the stored media, or the stream (with its fallback)."""
    if broadcast.stream is not None:
        s = broadcast.stream
        fallback = session.get(Media, s["fallback_media"]) if s.get("fallback_media") else None
        return dict(
            stream=StreamRef(
                url=s["urls"][0],
                fallback_urls=list(s["urls"][1:]),
                duration_s=s["duration_s"],
                live=s["kind"] == "live",
                auth=bool(s.get("auth")),
                silence_s=s.get("silence_s"),
                delay_ms=s.get("delay_ms"),
                station_url=s.get("station_url"),
                fallback_media=media_ref(fallback) if fallback else None,
            )
        )
    media = broadcast.media
    assert media is not None
    return dict(media=media_ref(media))


def duration_ms(broadcast: Broadcast) -> int:
    """The stored file's length; a stream's slot (a live one, until it ended)."""
    if broadcast.media is not None:
        return broadcast.media.duration_ms
    assert broadcast.stream is not None
    if broadcast.ended_at is not None:
        return max(0, round((broadcast.ended_at - broadcast.start_at).total_seconds() * 1000))
    return int(broadcast.stream["duration_s"]) * 1000
