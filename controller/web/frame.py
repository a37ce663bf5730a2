"""What the frame of every page shows beside its own content: the header's badge (emergencies
waiting for this person) and the banner of what is live now. View models built once per page
from the services; the base layout receives them, and the pages that serve their fragments
(``/ui/emergency-badge``, ``/ui/live-banner``) use these same builders."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..auth import Principal, allowed
from ..container import Services


@dataclass(frozen=True)
class LiveNow:
    """One live broadcast in the banner, and what this person may do with it."""

    id: str
    title: str
    targets: list[str]
    start_at: datetime
    source: str | None
    mine: bool
    can_end: bool


@dataclass(frozen=True)
class Frame:
    waiting: int = 0  # emergencies this person may confirm
    on_air: list[LiveNow] = field(default_factory=list)

    def context(self) -> dict[str, Any]:
        return {"waiting": self.waiting, "on_air": self.on_air}


def waiting_for(svc: Services, who: Principal | None) -> int:
    """Emergencies this person may confirm (someone else's, still waiting)."""
    if who is None or not allowed(who.roles, "broadcast.confirm"):
        return 0
    return svc.broadcast_queries.waiting_for_others(who.username)


def live_now(svc: Services, who: Principal | None) -> list[LiveNow]:
    """What is live now, and whether this person may end it."""
    if who is None:
        return []
    return [
        LiveNow(
            id=b.id,
            title=b.title,
            targets=b.targets,
            start_at=b.start_at,
            source=b.stream.source if b.stream else None,
            mine=b.created_by == who.username,
            can_end=b.created_by == who.username or allowed(who.roles, "live.end_any"),
        )
        for b in svc.broadcast_queries.on_air()
    ]


def frame(svc: Services, who: Principal | None) -> Frame:
    return Frame(waiting=waiting_for(svc, who), on_air=live_now(svc, who))
