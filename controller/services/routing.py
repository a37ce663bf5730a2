"""Each village in its own language: a bulletin made of several language versions plays, on
each loudspeaker, the versions its villages hear in the order the station set for them. The
choices are joined once into their own media (kept as the bulletin's variants), so commands
and plans still carry only a signed media hash and an agent plays one file as always."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ..auth import SYSTEM, SYSTEM_ROLES, Principal
from ..db.models import DeviceZone, Media, Zone
from ..domain.languages import (
    BETWEEN_VERSIONS_MS,
    heard_languages,
    is_whole,
    route,
    variant_key,
)
from ..media.compose import Piece, compose
from ..media.tts.engines import LANGUAGES
from .broadcasting.records import resolve_devices
from .media import About, MediaService

log = logging.getLogger(__name__)


def version_languages(media: Media) -> list[str] | None:
    """The languages of a bulletin's versions when each has its own audio, else None (one
    version, or made before versions were kept apart: played whole everywhere)."""
    parts = media.parts or []
    if len(parts) < 2 or not all(p.get("audio_sha256") for p in parts):
        return None
    return [str(p.get("language", "vi")) for p in parts]


class LanguageRouting:
    def __init__(self, sessions: sessionmaker[Session], media: MediaService):
        self._sessions = sessions
        self._media = media
        self._who = Principal(SYSTEM, SYSTEM_ROLES, None)

    def _heard(self, session: Session, device_ids: list[str]) -> dict[str, list[str]]:
        """device → the languages its villages hear, in order."""
        langs = {z.id: list(z.languages or ["vi"]) for z in session.scalars(select(Zone))}
        zones: dict[str, list[str]] = {d: [] for d in device_ids}
        for device_id, zone_id in session.execute(
            select(DeviceZone.device_id, DeviceZone.zone_id)
            .where(DeviceZone.device_id.in_(device_ids))
            .order_by(DeviceZone.zone_id)
        ):
            zones[device_id].append(zone_id)
        return {d: heard_languages(langs[z] for z in zs if z in langs) for d, zs in zones.items()}

    def per_device(self, media_sha256: str, targets: list[str]) -> dict[str, str]:
        """device → the media it plays, for the devices that do not play the whole bulletin
        (empty for a bulletin of one version). Variants not yet joined are joined now."""
        with self._sessions() as session:
            media = session.get(Media, media_sha256)
            languages = version_languages(media) if media is not None else None
            if media is None or languages is None:
                return {}
            heard = self._heard(session, resolve_devices(session, targets))
        choices = {d: route(languages, h) for d, h in heard.items()}
        joined = {  # each distinct choice once, however many devices make it
            indices: self.variant(media_sha256, indices)
            for indices in set(choices.values())
            if not is_whole(indices, len(languages))
        }
        return {d: joined[i] for d, i in choices.items() if i in joined}

    def prepare(self, media_sha256: str) -> None:
        """Join now the variants the station's villages will need (after a bulletin is made,
        so sending it does not wait for the audio)."""
        with self._sessions() as session:
            media = session.get(Media, media_sha256)
            languages = version_languages(media) if media is not None else None
            lists = [list(z or ["vi"]) for z in session.scalars(select(Zone.languages))]
        if languages is None:
            return
        for heard in lists:
            indices = route(languages, heard)
            if not is_whole(indices, len(languages)):
                self.variant(media_sha256, indices)

    def variant(self, media_sha256: str, indices: tuple[int, ...]) -> str:
        """The bulletin's versions ``indices`` joined, stored once and remembered."""
        key = variant_key(indices)
        with self._sessions() as session:
            media = session.get(Media, media_sha256)
            assert media is not None
            known = (media.variants or {}).get(key)
            if known and session.get(Media, known) is not None:
                return known
            parts = [dict(media.parts[i]) for i in indices]  # type: ignore[index]
            title = media.title
        if len(parts) == 1:  # one version: its own audio as it was kept
            return str(parts[0]["audio_sha256"])
        work = Path(tempfile.mkdtemp(prefix="loalang-variant-"))
        try:
            pieces: list[Piece] = []
            for n, part in enumerate(parts):
                if n:
                    pieces.append(Piece(silence_ms=BETWEEN_VERSIONS_MS))
                pieces.append(Piece(path=self._media.file(part["audio_sha256"])))
            joined = compose(pieces, work / "variant.wav")
            names = ", ".join(LANGUAGES.get(p.get("language", "vi"), ("?", "?"))[0] for p in parts)
            out, _ = self._media.ingest(
                self._who,
                joined,
                "variant.wav",
                f"{title} ({names})"[:200],
                about=About(
                    language=parts[0].get("language", "vi"),
                    text="\n\n".join(p["text"] for p in parts if p.get("text")) or None,
                    voice=parts[0].get("voice"),
                    parts=parts,
                ),
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        with self._sessions.begin() as session:
            media = session.get(Media, media_sha256)
            if media is not None:
                media.variants = {**(media.variants or {}), key: out.sha256}
        log.info("bulletin %s: versions %s joined as %s", media_sha256[:12], key, out.sha256[:12])
        return out.sha256

    def who_hears_what(self, media_sha256: str) -> list[dict[str, Any]]:
        """For the send form: each village, the languages it hears, and which versions of
        this bulletin it will hear (in order)."""
        with self._sessions() as session:
            media = session.get(Media, media_sha256)
            if media is None:
                return []
            apart = version_languages(media)
            languages = apart or [media.language]
            zones = list(session.scalars(select(Zone).order_by(Zone.name)))
            return [
                dict(
                    zone=z.id,
                    name=z.name,
                    languages=list(z.languages or ["vi"]),
                    hears=[languages[i] for i in route(languages, list(z.languages or ["vi"]))]
                    if apart
                    else [str(p.get("language", "vi")) for p in (media.parts or [])]
                    or [media.language],
                )
                for z in zones
            ]
