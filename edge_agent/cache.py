"""Media cache: files named by their SHA-256, fetched over HTTP with Range so downloads resume.

A partial download is kept as ``{sha}.part`` and continued from its length; the file only
becomes ``{sha}.opus`` once its hash matches the signed one. One GET with a Range header is
all it needs, so it uses the standard library (``http.client``, a small pool of kept-alive
connections) rather than an HTTP package: a Pi's memory is small.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import logging
import os
import ssl
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from protocol.messages import MediaRef

from .fsutil import fsync_dir

log = logging.getLogger(__name__)


class MediaHashMismatch(Exception):
    """The downloaded bytes are not the ones the signed command named."""


class MediaUnavailable(Exception):
    """Could not fetch the media before the deadline."""


class StorageFull(MediaUnavailable):
    """The media cannot be stored: the device's storage is full (retrying does not help)."""


class MediaCache:
    def __init__(
        self,
        directory: Path,
        base_url: str,
        token: str,
        timeout_s: float = 30.0,
        max_bytes: int | None = None,
        protected: Callable[[], set[str]] = set,
        tls: ssl.SSLContext | None = None,
    ):
        self.dir = directory
        self.max_bytes = max_bytes
        self._protected = protected  # media of the current plan and of plays under way
        self.dir.mkdir(parents=True, exist_ok=True)
        self.base_url = base_url.rstrip("/")
        # One connection for the agent's life: keep-alive over a slow link, TLS set up once.
        self._http = _Connections(self.base_url, token, timeout_s, tls)
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
        # A part file may be renamed or deleted between the listing and its stat: _size says 0.
        paths = [p for p in self.dir.iterdir() if p.is_file()]
        return sum(_size(p) for p in paths), sum(p.suffix == ".opus" for p in paths)

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
                [
                    ffmpeg,
                    "-v",
                    "error",
                    "-nostdin",
                    "-y",
                    "-i",
                    str(self.path(sha256)),
                    "-f",
                    "s16le",
                    "-ac",
                    "1",
                    "-ar",
                    str(sample_rate),
                    str(part),
                ],
                capture_output=True,
                timeout=600,
            )
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
            fetched = self._retrying(self._url(ref), ref.sha256, ref.size, final, deadline)
        self.evict(keep={ref.sha256})  # outside the lock: eviction takes other media's locks
        return final, fetched

    def fetch_file(self, url: str, sha256: str, size: int, final: Path, deadline: float) -> int:
        """Download any file the controller serves (an agent release) to ``final``, resumed
        and checked against ``sha256`` like media; not kept in (nor evicted from) the cache."""
        if final.is_file():
            return 0
        with self._lock(sha256):
            return self._retrying(
                url if url.startswith(("http://", "https://")) else self.base_url + url,
                sha256,
                size,
                final,
                deadline,
            )

    def _retrying(self, url: str, sha256: str, size: int, final: Path, deadline: float) -> int:
        delay = 1.0
        fetched = 0
        while True:
            try:
                return fetched + self._download(url, sha256, size, final)
            except MediaHashMismatch:
                raise
            except (http.client.HTTPException, OSError) as exc:
                if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                    raise StorageFull(str(exc)) from None  # said at once: no retry helps
                if time.time() + delay > deadline:
                    raise MediaUnavailable(f"{type(exc).__name__}: {exc}") from None
                log.warning(
                    "download of %s failed (%s); retrying in %.0fs", sha256[:12], exc, delay
                )
                time.sleep(delay)
                delay = min(delay * 2, 30.0)

    def evict(self, keep: frozenset[str] | set[str] = frozenset()) -> list[str]:
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
            log.warning(
                "media cache holds %.1f MB of needed media, over its %.1f MB cap",
                total / 2**20,
                self.max_bytes / 2**20,
            )
        if evicted:
            log.info("evicted %d media from the cache", len(evicted))
        return evicted

    def _url(self, ref: MediaRef) -> str:
        return ref.url if ref.url.startswith(("http://", "https://")) else self.base_url + ref.url

    def _download(self, url: str, sha256: str, expected: int, final: Path) -> int:
        part = final.with_name(f"{sha256}.part")
        have = part.stat().st_size if part.exists() else 0
        if have > expected:
            part.unlink()
            have = 0
        fetched = 0
        if have < expected:
            headers = {"Range": f"bytes={have}-"} if have else {}
            with self._http.get(url, headers) as resp:
                if resp.status == 200 and have:
                    have = 0  # server ignored the Range: start over
                elif resp.status not in (200, 206):
                    raise _HttpStatus(f"HTTP {resp.status} for {sha256[:12]}")
                with open(part, "ab" if have else "wb") as fh:
                    while chunk := resp.read(64 * 1024):
                        fh.write(chunk)
                        fetched += len(chunk)
                        if have + fetched > expected:
                            break
                    fh.flush()
                    os.fsync(fh.fileno())
        digest = hashlib.sha256()
        with open(part, "rb") as fh:
            got = 0
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
                got += len(chunk)
        if got < expected:
            raise OSError(f"short download: {got} of {expected} bytes")
        if got != expected or digest.hexdigest() != sha256:
            part.unlink(missing_ok=True)
            raise MediaHashMismatch(f"got sha256 {digest.hexdigest()} ({got} bytes)")
        os.replace(part, final)
        fsync_dir(final.parent)
        return fetched


class _HttpStatus(http.client.HTTPException):
    """The controller answered, but not with the media (404, 401, 5xx): retried like a
    network error until the deadline."""


class _Response:
    """One answer, holding its connection until it is read; then the connection goes back to
    the pool (or is closed if the answer was not read to its end)."""

    def __init__(
        self, pool: _Connections, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse
    ):
        self._pool = pool
        self._conn = conn
        self._resp = resp
        self.status = resp.status

    def read(self, size: int) -> bytes:
        return self._resp.read(size)

    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *exc: object) -> None:
        reusable = exc[0] is None and self._resp.isclosed() and not self._resp.will_close
        self._pool.give_back(self._conn, reusable)


class _Connections:
    """Kept-alive HTTP(S) connections to the controller: one per download under way (plays
    fetch in parallel), reused by the next download; any error closes its connection."""

    def __init__(
        self, base_url: str, token: str, timeout_s: float, tls: ssl.SSLContext | None = None
    ):
        self._base = urllib.parse.urlsplit(base_url)
        self._tls = tls or ssl.create_default_context()
        self._auth = f"Bearer {token}"
        self._timeout = timeout_s
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _take(self) -> http.client.HTTPConnection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        host, port = self._base.hostname or "", self._base.port
        if self._base.scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=self._timeout, context=self._tls)
        return http.client.HTTPConnection(host, port, timeout=self._timeout)

    def give_back(self, conn: http.client.HTTPConnection, reusable: bool) -> None:
        if not reusable:
            conn.close()
            return
        with self._lock:
            self._idle.append(conn)

    def get(self, url: str, headers: dict[str, str]) -> _Response:
        parts = urllib.parse.urlsplit(url)
        if (parts.scheme, parts.netloc) != (self._base.scheme, self._base.netloc):
            raise _HttpStatus(f"media must come from the controller, not {parts.netloc}")
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        for attempt in (1, 2):  # a kept-alive connection the server has closed: once more
            conn = self._take()
            try:
                conn.request("GET", target, headers={**headers, "Authorization": self._auth})
                return _Response(self, conn, conn.getresponse())
            except (http.client.HTTPException, OSError):
                conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


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
