"""Relays now (VOV, the provincial station, for a duration) and what the technician needs to
know about them: the dead air each relay had, from the loudspeakers' own playback reports."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import Priority, utcnow

from ..auth import Principal
from ..db.models import Broadcast, DeviceEvent
from .broadcasting import StreamBroadcasts, StreamRequest


@dataclass(frozen=True)
class DeadAir:
    """One relay's plays over a period: how much of them was silence."""

    relay: str  # the schedule's name, or a relay-now broadcast's title
    plays: int
    played_s: float
    dead_air_s: float
    switches: int  # times a silent stream was left for the next one


class RelayService:
    def __init__(self, sessions: sessionmaker[Session], streams: StreamBroadcasts):
        self._sessions = sessions
        self._streams = streams

    def relay_now(
        self,
        who: Principal,
        targets: list[str],
        urls: list[str],
        duration_s: int,
        title: str = "",
        start_at: datetime | None = None,
        priority: Priority = Priority.normal,
        fallback_media_sha256: str | None = None,
        silence_s: int | None = None,
    ) -> str:
        """A relay to ``targets`` (its URLs first to last, then the fallback file), held for
        approval like any of its sender's bulletins."""
        return self._streams.create(
            StreamRequest(
                kind="relay",
                targets=targets,
                urls=urls,
                title=title,
                duration_s=duration_s,
                start_at=start_at,
                priority=priority,
                fallback_media_sha256=fallback_media_sha256,
                silence_s=silence_s,
            ),
            who,
        )  # none: the agent's own threshold (10 s)

    def dead_air(self, days: int = 7) -> list[DeadAir]:
        """Per relay over the last ``days``: plays, minutes played, minutes of dead air."""
        since = utcnow() - timedelta(days=days)
        with self._sessions() as session:
            rows = session.execute(
                select(DeviceEvent.play_id, DeviceEvent.payload).where(
                    DeviceEvent.type == "playback.finished", DeviceEvent.ts >= since
                )
            ).all()
            finished = [(pid or "", p) for pid, p in rows if p.get("stream_urls") is not None]
            finished = [
                (pid, p) for pid, p in finished if not pid.startswith("l-")
            ]  # live: no relay
            ids = {pid for pid, _ in finished if pid.startswith("r-")}
            titles = (
                dict(
                    session.execute(
                        select(Broadcast.id, Broadcast.title).where(Broadcast.id.in_(ids))
                    ).all()
                )
                if ids
                else {}
            )  # type: ignore[arg-type]
        totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0])
        for play_id, payload in finished:
            relay = titles.get(play_id) or _schedule_of(play_id)
            t = totals[relay]
            t[0] += 1
            t[1] += payload.get("played_ms", 0) / 1000
            t[2] += (payload.get("dead_air_ms") or payload.get("silence_ms") or 0) / 1000
            t[3] += payload.get("silence_switches") or 0
        return sorted(
            (
                DeadAir(relay, int(t[0]), round(t[1], 1), round(t[2], 1), int(t[3]))
                for relay, t in totals.items()
            ),
            key=lambda d: -d.dead_air_s,
        )


def _schedule_of(play_id: str) -> str:
    """``s-tiep-song-vov-20261201T0600`` → ``tiep-song-vov``."""
    if play_id.startswith("s-"):
        return play_id[2:].rsplit("-", 1)[0]
    return play_id
