"""Media: an upload (or a recording) checked, normalised, encoded and stored by its SHA-256."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ..auth import Principal
from ..db.models import Media
from ..domain.errors import DomainError, Invalid, NotFound, TooLarge, Unsupported
from ..fsutil import AsyncReader, receive_upload
from ..media.pipeline import EncodeSettings, MediaRejected, Progress, probe
from ..media.store import MediaStore
from ..media.upload import process_upload
from .audit import AuditLog
from .views import MediaOut

log = logging.getLogger(__name__)

UNSUPPORTED = frozenset({"upload.not_audio", "upload.unsupported_format"})


@dataclass(frozen=True)
class About:
    """What a bulletin says: its language, and the text (and voice) it was spoken from; a
    bulletin of several language versions lists them in ``parts``."""

    language: str = "vi"
    text: str | None = None
    voice: str | None = None
    parts: list[dict[str, Any]] | None = None


def media_out(media: Media) -> MediaOut:
    out = MediaOut.model_validate(media)
    out.url = f"/media/{media.sha256}"
    return out


class MediaService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: MediaStore,
        encode: EncodeSettings,
        max_upload_bytes: int,
        audit: AuditLog,
    ):
        self._sessions = sessions
        self.store = store
        self._encode = encode
        self.max_upload_bytes = max_upload_bytes
        self._audit = audit

    def too_large(self) -> TooLarge:
        return TooLarge("upload.too_large", limit_mb=self.max_upload_bytes // (1024 * 1024))

    async def receive(self, upload: AsyncReader, filename: str) -> Path:
        """Copy an upload to a scratch file, refusing it past the limit or when empty."""
        return await receive_upload(
            upload,
            self.store.temp_path(suffix=Path(filename or "").suffix[:10]),
            self.max_upload_bytes,
            self.too_large,
            lambda: Invalid("upload.empty"),
        )

    def check(self, src: Path) -> None:
        """Refuse at once (in a second, before any job) what is not audio we accept."""
        try:
            probe(src, self._encode)
        except MediaRejected as exc:
            raise self._refusal(exc) from None

    @staticmethod
    def _refusal(exc: MediaRejected) -> DomainError:
        cls = Unsupported if exc.key in UNSUPPORTED else Invalid
        return cls(exc.key, **exc.params)

    def ingest(
        self,
        who: Principal,
        src: Path,
        filename: str,
        title: str | None,
        progress: Progress | None = None,
        about: About | None = None,
    ) -> tuple[MediaOut, bool]:
        """Check, loudness-normalise, encode and store a file already on disk (which stays the
        caller's). Returns the media and whether it is new; nothing is stored if refused."""
        about = about or About()
        dst = self.store.temp_path(suffix=".opus")
        try:
            try:
                encoded = process_upload(
                    src, dst, self._encode, progress or (lambda stage, done: None)
                )
            except MediaRejected as exc:
                raise self._refusal(exc) from None
            sha, encoded_size = self.store.put(dst)
            with self._sessions.begin() as session:
                existing = session.get(Media, sha)
                if existing is not None:
                    return media_out(existing), False
                media = Media(
                    sha256=sha,
                    title=str(title or Path(filename).stem)[:200],
                    original_filename=filename,
                    original_format=encoded.original_format,
                    original_size=src.stat().st_size,
                    size=encoded_size,
                    mime="audio/ogg",
                    duration_ms=encoded.duration_ms,
                    loudness_in_lufs=round(encoded.loudness_in.integrated_lufs, 2),
                    true_peak_in_dbtp=round(encoded.loudness_in.true_peak_dbtp, 2),
                    loudness_out_lufs=encoded.loudness_out_lufs,
                    true_peak_out_dbtp=encoded.true_peak_out_dbtp,
                    loudness_warning=encoded.warning,
                    language=about.language,
                    text=about.text,
                    voice=about.voice,
                    parts=about.parts,
                )
                try:
                    session.add(media)
                    session.flush()
                except Exception:
                    self.store.remove(sha)
                    raise
                out = media_out(media)
        finally:
            dst.unlink(missing_ok=True)
        self._audit.record(
            who, "media.upload", out.sha256, filename=filename, duration_ms=out.duration_ms
        )
        return out, True

    def list(self, limit: int | None = None) -> list[MediaOut]:
        with self._sessions() as session:
            query = select(Media).order_by(Media.created_at.desc())
            if limit:
                query = query.limit(limit)
            return [media_out(m) for m in session.scalars(query)]

    def get(self, sha256: str) -> MediaOut:
        with self._sessions() as session:
            media = session.get(Media, sha256)
            if media is None:
                raise NotFound("media.not_found")
            return media_out(media)

    def find_spoken(self, language: str, text: str, voice: str, said: str) -> MediaOut | None:
        """A stored bulletin of just this text, in this voice and read as ``said`` (the
        lexicon may have changed the reading since), so the same text is not spoken twice."""
        with self._sessions() as session:
            for media in session.scalars(
                select(Media)
                .where(Media.language == language, Media.text == text, Media.voice == voice)
                .order_by(Media.created_at.desc())
            ):
                parts = media.parts or []
                if len(parts) == 1 and parts[0].get("said") == said:
                    return media_out(media)
        return None

    def titles(self) -> dict[str, str]:
        """sha256 → title (or the file's name), for pages that name bulletins."""
        with self._sessions() as session:
            return {
                sha: title or name
                for sha, title, name in session.execute(
                    select(Media.sha256, Media.title, Media.original_filename)
                )
            }

    def texts(self, shas: list[str]) -> dict[str, str]:
        """sha256 → the text a bulletin was spoken from (those that were typed), for pages
        where a person must read what will sound before letting it."""
        if not shas:
            return {}
        with self._sessions() as session:
            return {
                sha: text
                for sha, text in session.execute(
                    select(Media.sha256, Media.text).where(Media.sha256.in_(shas))
                )
                if text
            }

    def file(self, sha256: str) -> Path:
        """The encoded file, for agents; NotFound for anything else."""
        path = self.store.path_for(sha256) if re.fullmatch("[0-9a-f]{64}", sha256) else None
        if path is None or not path.is_file():
            raise NotFound("media.not_found")
        return path
