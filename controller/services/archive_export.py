"""An archive period as one ZIP a province can check: the channel's files of the period, each
bulletin's own audio, the playback log (every device, when it played or why not), the gaps,
and the seal (``controller/channel/seal.py``) signed with the station's key."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import tempfile
import zipfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import utcnow

from ..auth import Principal
from ..channel.seal import MANIFEST, SIGNATURE, manifest_bytes
from ..domain.errors import Invalid
from ..keys import KeyRing
from .archive import ArchiveService, aired_between
from .audit import AuditLog

MAX_PERIOD = timedelta(days=31)
HOW_TO_CHECK = """Bản lưu trữ của {station} — {period}
Archive of {station} — {period}

Kiểm tra / to check it:  loalang archive verify {{this file}}.zip --key {key}
manifest.json liệt kê từng tệp với SHA-256; manifest.sig là chữ ký Ed25519 của đài
(khóa {kid}) trên manifest.json.
manifest.json lists every file with its SHA-256; manifest.sig is the station's Ed25519
signature (key {kid}) over manifest.json.
"""


class ArchiveExport:
    def __init__(
        self,
        archive: ArchiveService,
        sessions: sessionmaker[Session],
        keys: KeyRing,
        media_path: Callable[[str], Path],
        station_name: str,
        audit: AuditLog,
    ):
        self._archive = archive
        self._sessions = sessions
        self._keys = keys
        self._media_path = media_path
        self._station = station_name
        self._audit = audit

    def export(self, who: Principal, start: datetime, end: datetime) -> Path:
        """The period [start, end) as a signed ZIP in a temporary file (the caller removes)."""
        if end <= start:
            raise Invalid("archive.period")
        if end - start > MAX_PERIOD:
            raise Invalid("archive.period_too_long", days=MAX_PERIOD.days)
        files, gaps = self._archive.between(start, end)
        log = self._log(start, end)
        tz = self._archive.tz
        out = Path(tempfile.mkstemp(prefix="loalang-archive-", suffix=".zip")[1])
        digests: dict[str, str] = {}

        def add(zf: zipfile.ZipFile, name: str, data: bytes | None = None, src: Path | None = None):
            if src is not None:
                zf.write(src, name)
                digests[name] = _sha_file(src)
            else:
                assert data is not None
                zf.writestr(name, data)
                digests[name] = hashlib.sha256(data).hexdigest()

        key = self._keys.active
        period = f"{start.astimezone(tz).isoformat()} – {end.astimezone(tz).isoformat()}"
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
            for f in files:
                local = f.start.astimezone(tz)
                src = self._archive.root / f.name
                if src.is_file():
                    add(zf, f"kenh/{local:%Y-%m-%d}/{local:%H%M%S}.ogg", src=src)
            for row in log:
                sha = row["media_sha256"]
                if sha and self._media_path(sha).is_file():
                    add(zf, f"ban-tin/{row['id']}.opus", src=self._media_path(sha))
            add(zf, "nhat-ky.json", json.dumps(log, ensure_ascii=False, indent=1).encode())
            add(zf, "nhat-ky.csv", _csv(log))
            gap_rows = [
                {"from": g.start.isoformat(), "to": g.end.isoformat(), "reason": g.reason}
                for g in gaps
            ]
            add(zf, "khoang-trong.json", json.dumps(gap_rows, indent=1).encode())
            text = HOW_TO_CHECK.format(
                station=self._station, period=period, key=key.public_b64, kid=key.kid
            )
            add(zf, "KIEM-TRA.txt", text.encode())
            about = {
                "station": self._station,
                "from": start.isoformat(),
                "to": end.isoformat(),
                "made_at": utcnow().isoformat(),
                "made_by": who.username,
                "kid": key.kid,
                "public_key": key.public_b64,
            }
            raw = manifest_bytes(about, digests)
            zf.writestr(MANIFEST, raw)
            zf.writestr(SIGNATURE, base64.b64encode(key.private.sign(raw)).decode() + "\n")
        self._audit.record(who, "archive.exported", period, files=len(digests), broadcasts=len(log))
        return out

    def _log(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        with self._sessions() as session:
            rows = session.scalars(aired_between(start, end)).all()
            return [
                {
                    "id": b.id,
                    "title": b.title,
                    "priority": b.priority,
                    "start_at": b.start_at.isoformat(),
                    "kind": b.stream["kind"] if b.stream else "media",
                    "media_sha256": b.media_sha256,
                    "targets": list(b.targets),
                    "created_by": b.created_by,
                    "approved_by": b.approved_by,
                    "devices": [
                        {
                            "device": d.device_id,
                            "state": d.state.value,
                            "started_at": d.started_at.isoformat() if d.started_at else None,
                            "ended_at": d.ended_at.isoformat() if d.ended_at else None,
                            "reason": d.reason,
                        }
                        for d in b.deliveries
                    ],
                }
                for b in rows
            ]


def _csv(log: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "broadcast",
            "title",
            "priority",
            "start_at",
            "device",
            "state",
            "started_at",
            "ended_at",
            "reason",
        ]
    )
    for row in log:
        for d in row["devices"] or [{}]:
            w.writerow(
                [
                    row["id"],
                    row["title"],
                    row["priority"],
                    row["start_at"],
                    d.get("device", ""),
                    d.get("state", ""),
                    d.get("started_at") or "",
                    d.get("ended_at") or "",
                    d.get("reason") or "",
                ]
            )
    return buf.getvalue().encode("utf-8-sig")


def _sha_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
