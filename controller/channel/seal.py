"""An archive export's seal: ``manifest.json`` lists every file of the ZIP with its SHA-256,
``manifest.sig`` is the station's Ed25519 signature over the manifest's bytes (the key every
loudspeaker trusts, ``controller/keys.py``). Anyone holding the station's public key checks
that the ZIP came from the station and that no file was changed, added or removed
(``loalang archive verify``)."""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocol.keys import PublicKey

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"


def manifest_bytes(about: dict[str, Any], files: dict[str, str]) -> bytes:
    """The manifest: what the export is (``about``) and ``files`` (path → SHA-256)."""
    return json.dumps(
        {**about, "files": dict(sorted(files.items()))}, ensure_ascii=False, indent=1
    ).encode()


@dataclass
class SealCheck:
    ok: bool
    kid: str = ""
    station: str = ""
    problems: list[str] = field(default_factory=list)
    files: int = 0


def verify_zip(path: Path, trusted: PublicKey | None = None) -> SealCheck:
    """Check an export: the signature over the manifest (by ``trusted``, or by the key the
    manifest names, then said so) and every file against it."""
    check = SealCheck(ok=False)
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        check.problems.append(f"not a ZIP: {exc}")
        return check
    with archive:
        names = set(archive.namelist())
        if not {MANIFEST, SIGNATURE} <= names:
            check.problems.append("no manifest.json or manifest.sig")
            return check
        raw = archive.read(MANIFEST)
        try:
            manifest = json.loads(raw)
            key = trusted or PublicKey.from_text(manifest["public_key"])
            signature = base64.b64decode(archive.read(SIGNATURE).strip())
        except (ValueError, KeyError) as exc:
            check.problems.append(f"unreadable manifest: {exc}")
            return check
        check.kid, check.station = key.kid, str(manifest.get("station", ""))
        try:
            key.verify(signature, raw)
        except Exception:  # noqa: BLE001 - any failure of the signature is the same answer
            check.problems.append("the signature does not match the manifest and this key")
            return check
        listed: dict[str, str] = manifest.get("files", {})
        for name, digest in listed.items():
            if name not in names:
                check.problems.append(f"missing: {name}")
            elif hashlib.sha256(archive.read(name)).hexdigest() != digest:
                check.problems.append(f"changed: {name}")
        for name in names - listed.keys() - {MANIFEST, SIGNATURE}:
            check.problems.append(f"not in the manifest: {name}")
        check.files = len(listed)
    check.ok = not check.problems
    return check
