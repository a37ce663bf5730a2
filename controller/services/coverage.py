"""Did every village hear it? Per village, the latest bulletin that reached its own
loudspeakers and what happened on each of them (``domain/outcome.py``) — not the whole
bulletin's counts. Villages with no bulletin yet are listed too."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ..db.models import Broadcast, Delivery, Device, Zone
from ..domain.broadcast import BroadcastState
from ..domain.outcome import Outcome, outcome, summarise

LOOK_BACK = 300
"""How many recent bulletins are searched for each village's latest."""
PAGE = 25
"""Bulletins read at a time, newest first: most villages find theirs in the first page, and
the home page refreshes on every report."""


@dataclass
class VillageCoverage:
    zone: str
    name: str
    devices: int
    broadcast_id: str | None = None
    title: str = ""
    start_at: datetime | None = None
    counts: dict[str, int] = field(default_factory=dict)
    # what the clusters' microphones made of it: verdict → loudspeakers (those that have one)
    heard: dict[str, int] = field(default_factory=dict)

    @property
    def heard_ok(self) -> int:
        return self.heard.get("heard", 0)

    @property
    def heard_checked(self) -> int:
        """Loudspeakers whose microphone gave a verdict it could stand by."""
        return sum(n for v, n in self.heard.items() if v not in ("uncertain", "cannot_check"))

    @property
    def worst(self) -> str | None:
        """What the village's line is coloured by: the worst outcome it has."""
        for o in (
            Outcome.failed,
            Outcome.missed,
            Outcome.interrupted,
            Outcome.fault,
            Outcome.played,
        ):
            if self.counts.get(o.value):
                return o.value
        return Outcome.waiting.value if self.counts.get("waiting") else None


def village_coverage(sessions: sessionmaker[Session]) -> list[VillageCoverage]:
    with sessions() as session:
        zones = list(session.scalars(select(Zone).order_by(Zone.name)))
        members: dict[str, set[str]] = {z.id: set() for z in zones}
        for device in session.scalars(select(Device).where(Device.retired.is_(False))):
            for z in device.zones:
                members.setdefault(z.id, set()).add(device.id)
        rows = {z.id: VillageCoverage(z.id, z.name, len(members[z.id])) for z in zones}
        # villages still looking for their latest (one with no loudspeaker has none)
        waiting = {z.id for z in zones if members[z.id]}
        for offset in range(0, LOOK_BACK, PAGE):
            if not waiting:
                break
            page = list(
                session.scalars(
                    select(Broadcast)
                    .where(
                        Broadcast.state.in_([BroadcastState.sent.value, BroadcastState.done.value])
                    )
                    .order_by(Broadcast.start_at.desc(), Broadcast.id)
                    .offset(offset)
                    .limit(PAGE)
                )
            )
            if not page:
                break
            by_broadcast: dict[str, list[Delivery]] = {}
            for d in session.scalars(
                select(Delivery).where(Delivery.broadcast_id.in_([b.id for b in page]))
            ):
                by_broadcast.setdefault(d.broadcast_id, []).append(d)
            for b in page:  # newest first
                for zone in list(waiting):
                    own = [d for d in by_broadcast.get(b.id, []) if d.device_id in members[zone]]
                    if own:
                        row = rows[zone]
                        row.broadcast_id, row.title, row.start_at = b.id, b.title, b.start_at
                        row.counts = summarise(outcome(d.state, d.line_check) for d in own)
                        for d in own:
                            verdict = (d.hearing or {}).get("verdict")
                            if verdict:
                                row.heard[verdict] = row.heard.get(verdict, 0) + 1
                        waiting.discard(zone)
        return [rows[z.id] for z in zones]


@dataclass(frozen=True)
class HeardPoint:
    """One cluster on the "heard" map: where it stands and its latest play's verdict."""

    device_id: str
    name: str
    lat: float
    lon: float
    hearing: dict[str, Any]


def heard_map(sessions: sessionmaker[Session]) -> list[HeardPoint]:
    """Clusters with a place and a microphone verdict (the others have nothing to show)."""
    with sessions() as session:
        return [
            HeardPoint(d.id, d.name, d.latitude, d.longitude, (d.hearing or {}).get("last") or {})
            for d in session.scalars(
                select(Device).where(Device.retired.is_(False)).order_by(Device.name)
            )
            if d.latitude is not None and d.longitude is not None and (d.hearing or {}).get("last")
        ]
