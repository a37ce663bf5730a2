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
    def __init__(self, directory: Path, base_url: str, token: str, timeout_s: float = 30.0):
        self.dir = directory
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
                return final, 0
            delay = 1.0
            fetched = 0
            while True:
                try:
                    fetched += self._download(ref)
                    return final, fetched
                except MediaHashMismatch:
                    raise
                except (httpx.HTTPError, OSError) as exc:
                    if time.time() + delay > deadline:
                        raise MediaUnavailable(f"{type(exc).__name__}: {exc}") from None
                    log.warning("download of %s failed (%s); retrying in %.0fs",
                                ref.sha256[:12], exc, delay)
                    time.sleep(delay)
                    delay = min(delay * 2, 30.0)

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
