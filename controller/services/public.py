"""What the station shows anyone, without a log-in: the bulletins it aired and marked public
(every emergency is), newest first, with their text and audio — so a villager can check a
rumour against what the station really said. Named by a public slug, never by an internal
id; no device, no village list beyond the bulletin's own words, no person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import and_, false, func, or_, select, true
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from protocol.messages import Priority, utcnow

from ..db.models import Broadcast, Media
from ..domain.broadcast import BroadcastState
from ..media.store import MediaStore
from .station import read as station_settings

PAGE_SIZE = 30
AIRED = (BroadcastState.sent, BroadcastState.done)


@dataclass(frozen=True)
class PublicBulletin:
    slug: str
    title: str
    aired_at: datetime  # UTC
    priority: str
    text: str | None  # what a text bulletin said (its spoken text)
    duration_ms: int
    size: int
    repeats: int  # how many times it aired in its series

    @property
    def emergency(self) -> bool:
        return self.priority == Priority.emergency.value


class PublicBulletins:
    def __init__(self, sessions: sessionmaker[Session], store: MediaStore):
        self._sessions = sessions
        self._store = store

    def _shown(self, session: Session) -> ColumnElement[bool]:
        """Aired, with audio, the first of its series, public (by mark or the default)."""
        default = true() if station_settings(session).public_by_default else false()
        return and_(
            Broadcast.media_sha256.is_not(None),
            Broadcast.state.in_(AIRED),
            Broadcast.start_at <= utcnow(),
            Broadcast.repeat_index == 0,
            Broadcast.public_slug.is_not(None),
            or_(
                Broadcast.priority == Priority.emergency.value,
                Broadcast.public.is_(True),
                and_(Broadcast.public.is_(None), default),
            ),
        )

    def page(self, number: int = 1) -> tuple[list[PublicBulletin], int]:
        """One page of aired public bulletins, newest first, and how many pages there are."""
        with self._sessions() as session:
            shown = self._shown(session)
            total = session.scalar(select(func.count()).select_from(Broadcast).where(shown)) or 0
            rows = session.execute(
                _columns()
                .where(shown)
                .order_by(Broadcast.start_at.desc(), Broadcast.id)
                .offset((max(1, number) - 1) * PAGE_SIZE)
                .limit(PAGE_SIZE)
            ).all()
            repeats = _repeats(session, [r.series_id for r in rows if r.series_id])
            return [_bulletin(r, repeats) for r in rows], max(1, -(-total // PAGE_SIZE))

    def get(self, slug: str) -> PublicBulletin | None:
        with self._sessions() as session:
            row = session.execute(
                _columns().where(self._shown(session), Broadcast.public_slug == slug)
            ).first()
            if row is None:
                return None
            return _bulletin(row, _repeats(session, [row.series_id] if row.series_id else []))

    def audio(self, slug: str) -> Path | None:
        """The bulletin's audio file, if it is shown to the public."""
        with self._sessions() as session:
            sha = session.scalar(
                select(Broadcast.media_sha256).where(
                    self._shown(session), Broadcast.public_slug == slug
                )
            )
        return self._store.path_for(sha) if sha else None


def _columns():
    return select(
        Broadcast.public_slug,
        Broadcast.title,
        Broadcast.start_at,
        Broadcast.priority,
        Broadcast.series_id,
        Media.text,
        Media.duration_ms,
        Media.size,
    ).join(Media, Media.sha256 == Broadcast.media_sha256)


def _repeats(session: Session, series: list[str]) -> dict[str, int]:
    if not series:
        return {}
    return dict(
        session.execute(  # type: ignore[arg-type]
            select(Broadcast.series_id, func.count())
            .where(Broadcast.series_id.in_(series), Broadcast.state.in_(AIRED))
            .group_by(Broadcast.series_id)
        ).all()
    )


def _bulletin(row, repeats: dict[str, int]) -> PublicBulletin:
    return PublicBulletin(
        slug=row.public_slug,
        title=row.title,
        aired_at=row.start_at,
        priority=row.priority,
        text=row.text,
        duration_ms=row.duration_ms,
        size=row.size,
        repeats=repeats.get(row.series_id, 1) if row.series_id else 1,
    )
