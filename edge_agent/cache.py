"""Media cache: files named by their SHA-256, fetched over HTTP with Range so downloads resume.

A partial download is kept as ``{sha}.part`` and continued from its length; the file only
becomes ``{sha}.opus`` once its hash matches the signed one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from protocol.messages import MediaRef

from .fsutil import fsync_dir

log = logging.getLogger(__name__)


class MediaHashMismatch(Exception):
    """The downloaded bytes are not the ones the signed command named."""


class MediaUnavailable(Exception):
    """Could not fetch the media before the deadline."""


class MediaCache:
    def __init__(self, directory: Path, base_url: str, token: str, timeout_s: float = 30.0,
                 max_bytes: int | None = None,
                 protected: Callable[[], set[str]] = set):
        self.dir = directory
        self.max_bytes = max_bytes
        self._protected = protected  # media of the current plan and of plays under way
        self.dir.mkdir(parents=True, exist_ok=True)
        self.base_url = base_url.rstrip("/")
        # One client for the agent's life: keep-alive over a slow link, TLS set up once.
        self._http = httpx.Client(headers={"Authorization": f"Bearer {token}"},
                                  timeout=timeout_s, follow_redirects=False)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def path(self, sha256: str) -> Path:
        return self.dir / f"{sha256}.opus"

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def usage(self) -> tuple[int, int]:
        """(bytes on disk, media files) held in the cache, decoded PCM included."""
        paths = [p for p in self.dir.iterdir() if p.is_file()]
        return sum(p.stat().st_size for p in paths), sum(p.suffix == ".opus" for p in paths)

    def pcm_path(self, sha256: str) -> Path:
        return self.dir / f"{sha256}.pcm"

    def ensure_pcm(self, sha256: str, ffmpeg: str, sample_rate: int) -> Path:
        """Decode cached media once to raw PCM, so playing it needs no process at start time.

        Used for short media (emergency bulletins, jingles): they must start instantly.
        """
        with self._lock(sha256):
            pcm = self.pcm_path(sha256)
            if pcm.is_file():
                _touch(pcm)
                return pcm
            part = pcm.with_suffix(".pcm.part")
            proc = subprocess.run(
                [ffmpeg, "-v", "error", "-nostdin", "-y", "-i", str(self.path(sha256)),
                 "-f", "s16le", "-ac", "1", "-ar", str(sample_rate), str(part)],
                capture_output=True, timeout=600)
            if proc.returncode != 0:
                part.unlink(missing_ok=True)
                raise OSError(proc.stderr.decode(errors="replace")[-300:])
            with open(part, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(part, pcm)
        self.evict(keep={sha256})
        return pcm

    def _lock(self, sha256: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(sha256, threading.Lock())

    def fetch(self, ref: MediaRef, deadline: float) -> tuple[Path, int]:
        """Make sure ``ref`` is cached and intact; returns (path, bytes downloaded now).

        Retries with backoff until ``deadline`` (a ``time.time()`` value). A hash mismatch is
        not retried: it is a security matter, not a network one.
        """
        with self._lock(ref.sha256):
            final = self.path(ref.sha256)
            if final.is_file():
                _touch(final)
                return final, 0
            delay = 1.0
            fetched = 0
            while True:
                try:
                    fetched += self._download(ref)
                    break
                except MediaHashMismatch:
                    raise
                except (httpx.HTTPError, OSError) as exc:
                    if time.time() + delay > deadline:
                        raise MediaUnavailable(f"{type(exc).__name__}: {exc}") from None
                    log.warning("download of %s failed (%s); retrying in %.0fs",
                                ref.sha256[:12], exc, delay)
                    time.sleep(delay)
                    delay = min(delay * 2, 30.0)
        self.evict(keep={ref.sha256})  # outside the lock: eviction takes other media's locks
        return final, fetched

    def evict(self, keep: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
        """Delete least recently used media until the cache fits ``max_bytes``.

        Never media in ``keep``, of the current plan or of a play under way; if those alone
        exceed the cap they all stay (playing on time matters more than the cap).
        """
        if self.max_bytes is None:
            return []
        entries: dict[str, list[Path]] = {}
        for p in self.dir.iterdir():
            if p.suffix in (".opus", ".pcm") and p.is_file():
                entries.setdefault(p.stem, []).append(p)
        sizes = {sha: sum(_size(p) for p in paths) for sha, paths in entries.items()}
        total = sum(sizes.values())
        if total <= self.max_bytes:
            return []
        protected = set(keep) | self._protected()
        last_used = {sha: max(_mtime(p) for p in paths) for sha, paths in entries.items()}
        evicted = []
        for sha in sorted(entries, key=last_used.__getitem__):
            if total <= self.max_bytes:
                break
            if sha in protected:
                continue
            with self._lock(sha):
                for p in entries[sha]:
                    p.unlink(missing_ok=True)
            total -= sizes[sha]
            evicted.append(sha)
        if total > self.max_bytes:
            log.warning("media cache holds %.1f MB of needed media, over its %.1f MB cap",
                        total / 2**20, self.max_bytes / 2**20)
        if evicted:
            log.info("evicted %d media from the cache", len(evicted))
        return evicted

    def _url(self, ref: MediaRef) -> str:
        return ref.url if ref.url.startswith(("http://", "https://")) else self.base_url + ref.url

    def _download(self, ref: MediaRef) -> int:
        part = self.dir / f"{ref.sha256}.part"
        have = part.stat().st_size if part.exists() else 0
        if have > ref.size:
            part.unlink()
            have = 0
        fetched = 0
        if have < ref.size:
            headers = {"Range": f"bytes={have}-"} if have else {}
            with self._http.stream("GET", self._url(ref), headers=headers) as resp:
                if resp.status_code == 200 and have:
                    have = 0  # server ignored the Range: start over
                elif resp.status_code not in (200, 206):
                    resp.raise_for_status()
                    raise httpx.HTTPError(f"unexpected status {resp.status_code}")
                with open(part, "ab" if have else "wb") as fh:
                    for chunk in resp.iter_bytes(64 * 1024):
                        fh.write(chunk)
                        fetched += len(chunk)
                        if have + fetched > ref.size:
                            break
                    fh.flush()
                    os.fsync(fh.fileno())
        digest = hashlib.sha256()
        with open(part, "rb") as fh:
            size = 0
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
        if size < ref.size:
            raise OSError(f"short download: {size} of {ref.size} bytes")
        if size != ref.size or digest.hexdigest() != ref.sha256:
            part.unlink(missing_ok=True)
            raise MediaHashMismatch(f"got sha256 {digest.hexdigest()} ({size} bytes)")
        os.replace(part, self.path(ref.sha256))
        fsync_dir(self.dir)
        return fetched


def _touch(path: Path) -> None:
    """Mark as recently used (Pi SD cards are mounted noatime, so atime says nothing)."""
    try:
        os.utime(path)
    except OSError:
        pass


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
