"""Content-addressed media store on the filesystem: ``{root}/{sha[:2]}/{sha}.opus``."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


class MediaStore:
    """Immutable files named by the SHA-256 of their bytes, so caches never go stale."""

    def __init__(self, root: Path):
        self.root = root
        self.tmp = root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.opus"

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def temp_path(self, suffix: str = "") -> Path:
        """A fresh path in the store's scratch folder (same filesystem, so rename is atomic)."""
        fd, name = tempfile.mkstemp(dir=self.tmp, suffix=suffix)
        os.close(fd)
        return Path(name)

    def put(self, path: Path) -> tuple[str, int]:
        """Move ``path`` into the store under its hash; returns (sha256, size)."""
        digest = hashlib.sha256()
        size = 0
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
            os.fsync(fh.fileno())
        sha = digest.hexdigest()
        final = self.path_for(sha)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            path.unlink(missing_ok=True)
        else:
            os.replace(path, final)
        return sha, size

    def remove(self, sha256: str) -> None:
        self.path_for(sha256).unlink(missing_ok=True)
