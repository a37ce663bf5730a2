"""Repeated broadcasts: a storm bulletin every two hours until the storm passes. Each
repetition is its own broadcast (its own signed play, its own log rows), introduced by the
spoken time the bulletin was first issued; an update changes what the ones still to come say;
cancelling any of them stops the rest."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from protocol.messages import utcnow

from ..auth import Principal
from ..domain.errors import DomainError, Invalid
from ..domain.repeats import issue_time_in, issue_time_words, repetition_count
from .broadcasting import BroadcastQueries, BroadcastRequest, BroadcastService
from .media import MediaService
from .speech import SpeechPart, SpeechService

MIN_EVERY_S = 15  # shorter than a bulletin and its spoken time makes no sense
MAX_FOR = timedelta(days=7)


class RepeatService:
    def __init__(
        self,
        broadcasts: BroadcastService,
        queries: BroadcastQueries,
        speech: SpeechService,
        media: MediaService,
        timezone: str,
    ):
        self._broadcasts = broadcasts
        self._queries = queries
        self._speech = speech
        self._media = media
        self._zone = ZoneInfo(timezone)

    def introduced(self, who: Principal, media_sha256: str, title: str) -> str:
        """The bulletin preceded by "Bản tin phát lúc …" (now, the issue time), as new media."""
        message = self._media.get(media_sha256)
        words = issue_time_words(utcnow().astimezone(self._zone))
        return self._said_before(
            who, words, message.sha256, message.language, title or message.title
        )

    def _said_before(
        self, who: Principal, words: str, media_sha256: str, language: str, title: str
    ) -> str:
        """The issue time, then the bulletin. A bulletin of several language versions: each
        version after the time said in its language where a voice speaks it (so each village,
        hearing its own versions, hears the time in its language where it can)."""
        message = self._media.get(media_sha256)
        versions = message.parts or []
        parts = [SpeechPart("vi", words), SpeechPart(language, media_sha256=media_sha256)]
        if len(versions) > 1 and all(v.get("audio_sha256") for v in versions):
            spoken = self._speech.engines.languages_spoken()
            parts = []
            for v in versions:
                code = str(v.get("language", "vi"))
                said = issue_time_in(code, words)
                if said and code in spoken:
                    parts.append(SpeechPart(code, said))
                parts.append(SpeechPart(code, media_sha256=str(v["audio_sha256"])))
        out, _ = self._speech.render(who, parts, title)
        return out.sha256

    def create(
        self,
        who: Principal,
        req: BroadcastRequest,
        every_s: int,
        for_s: int | None,
        *,
        draft: bool = False,
    ) -> str:
        """The first play, then one every ``every_s`` for ``for_s`` (None: until cancelled,
        at most a day); the repetitions restate the issue time."""
        if not MIN_EVERY_S <= every_s <= 86400 or (
            for_s is not None and not 0 < for_s <= MAX_FOR.total_seconds()
        ):
            raise Invalid("broadcast.bad_repeat", min_s=MIN_EVERY_S)
        count = repetition_count(
            timedelta(seconds=every_s), None if for_s is None else timedelta(seconds=for_s)
        )
        if count <= 1:
            return self._broadcasts.create(req, who, draft=draft)
        introduced = self.introduced(who, req.media_sha256, req.title)
        if req.start_at is not None and req.start_at <= utcnow():
            req = replace(req, start_at=None)  # making the introduction took past it: now
        return self._broadcasts.create(
            replace(
                req, repeat_every_s=every_s, repeat_count=count, repeat_media_sha256=introduced
            ),
            who,
            draft=draft,
        )

    def _issue_words(self, series_id: str, created_at: datetime) -> str:
        """The sentence the series' repetitions already say (the same words after an
        update), else one from when the series was created."""
        try:
            said = self._media.get(self._queries.get(f"{series_id}-r1").media_sha256)
            words = (said.parts or [{}])[0].get("text") or ""
            if words.startswith("Bản tin phát lúc"):
                return str(words)
        except DomainError:
            pass
        return issue_time_words(created_at.astimezone(self._zone))

    def update(self, who: Principal, broadcast_id: str, media_sha256: str) -> list[str]:
        """A new message for the repetitions still to come, introduced by the original
        issue time (kept from the series' first)."""
        first = self._queries.get(broadcast_id)
        series = self._queries.get(first.series_id) if first.series_id else first
        message = self._media.get(media_sha256)
        introduced = self._said_before(
            who,
            self._issue_words(series.id, series.created_at),
            message.sha256,
            message.language,
            series.title,
        )
        return self._broadcasts.update_series(broadcast_id, introduced, who)
