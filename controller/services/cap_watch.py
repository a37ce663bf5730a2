"""CAP alerts that are not posted: a folder the station's mail or sync tool drops files into,
and a URL (one alert, or an Atom/RSS index) read every ``poll_s``. Each alert goes through
``CapService.receive`` like a POST; nothing read is lost: a file is moved to ``done/`` or to
``refused/`` with the reason beside it, and a feed's last error is kept for the API."""

from __future__ import annotations

import hashlib
import logging
import shutil
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

from protocol.messages import utcnow

from ..cap.alert import MAX_BYTES
from ..cap.index import NotAFeed, read_feed
from ..domain.errors import DomainError
from ..i18n import translate
from ..settings import CapFeed
from .cap import CapService

log = logging.getLogger(__name__)

SETTLE_S = 1.0  # a file changed this recently may still be being written
SEEN_LINKS = 2000  # per URL feed: links already read (an index lists the same ones again)
PATTERNS = ("*.xml", "*.cap")


@dataclass
class FeedStatus:
    """What the last look at a feed's folder or URL found (``GET /api/cap/feeds``)."""

    polled_at: datetime | None = None
    received: int = 0  # alerts handed to the service since the controller started
    refused: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None


@dataclass
class _UrlState:
    etag: str | None = None
    modified: str | None = None
    seen: OrderedDict[str, None] = field(default_factory=OrderedDict)  # link or body hash


class CapWatcher:
    def __init__(self, cap: CapService, feeds: dict[str, CapFeed]):
        self._cap = cap
        self._feeds = {name: f for name, f in feeds.items() if f.folder or f.url}
        self._status = {name: FeedStatus() for name in self._feeds}
        self._urls = {name: _UrlState() for name in self._feeds}
        self._lock = threading.Lock()

    def watched(self) -> dict[str, CapFeed]:
        """The feeds that have a folder or a URL to read."""
        return dict(self._feeds)

    def status(self) -> dict[str, FeedStatus]:
        with self._lock:
            return {name: FeedStatus(**vars(s)) for name, s in self._status.items()}

    def poll(self, name: str) -> None:
        """Read the feed's folder and URL once (a job, every ``poll_s``)."""
        feed = self._feeds[name]
        if feed.folder is not None:
            self._poll_folder(name, feed.folder)
        if feed.url is not None:
            try:
                self._poll_url(name, feed.url)
            except (httpx.HTTPError, NotAFeed) as exc:
                self._error(name, f"{feed.url}: {exc}")
        with self._lock:
            self._status[name].polled_at = utcnow()

    # --- folder ---------------------------------------------------------------------------

    def _poll_folder(self, name: str, folder: Path) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            found = sorted(
                {p for pattern in PATTERNS for p in folder.glob(pattern)},
                key=lambda p: p.stat().st_mtime,
            )
        except OSError as exc:
            self._error(name, f"{folder}: {exc}")
            return
        for path in found:
            try:
                if time.time() - path.stat().st_mtime < SETTLE_S:
                    continue  # still being written: the next poll takes it
                document = path.read_bytes()
            except OSError:
                continue  # moved away meanwhile
            problem = self._hand_over(name, document)
            self._file_away(name, path, problem)

    def _file_away(self, name: str, path: Path, problem: str | None) -> None:
        target = path.parent / ("refused" if problem else "done")
        try:
            target.mkdir(exist_ok=True)
            dest = target / path.name
            if dest.exists():
                dest = target / f"{path.stem}-{utcnow():%Y%m%dT%H%M%S%f}{path.suffix}"
            if problem:  # the reason first: a refused file never shows up without it
                dest.with_name(dest.name + ".txt").write_text(problem + "\n", encoding="utf-8")
            shutil.move(str(path), dest)
        except OSError as exc:
            self._error(name, f"{path} not moved: {exc}")

    # --- URL ------------------------------------------------------------------------------

    def _poll_url(self, name: str, url: str) -> None:
        state = self._urls[name]
        headers = {"Accept": "application/cap+xml, application/atom+xml, application/xml"}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.modified:
            headers["If-Modified-Since"] = state.modified
        with httpx.Client(timeout=20, follow_redirects=True) as http:
            status, body, final_url, response_headers = _get(http, url, headers)
            if status == 304:
                return
            state.etag = response_headers.get("etag")
            state.modified = response_headers.get("last-modified")
            listing = read_feed(body, final_url)
            if listing.alert:
                key = hashlib.sha256(body).hexdigest()
                if key not in state.seen:
                    self._remember(state, key)
                    self._report(name, url, self._hand_over(name, body))
                return
            for link in reversed(listing.links):  # oldest first: an update after its alert
                if link in state.seen:
                    continue
                _, document, _, _ = _get(http, link, {})
                self._remember(state, link)
                self._report(name, link, self._hand_over(name, document))

    @staticmethod
    def _remember(state: _UrlState, key: str) -> None:
        state.seen[key] = None
        while len(state.seen) > SEEN_LINKS:
            state.seen.popitem(last=False)

    def _report(self, name: str, where: str, problem: str | None) -> None:
        if problem:
            self._error(name, f"{where}: {problem}")

    # --- both -----------------------------------------------------------------------------

    def _hand_over(self, name: str, document: bytes) -> str | None:
        """Give one document to the CAP service; the refusal in words (vi, then en) or None."""
        try:
            outcome = self._cap.receive(name, document)
        except DomainError as exc:
            with self._lock:
                self._status[name].refused += 1
            return " / ".join(translate(exc.key, lang, **exc.params) for lang in ("vi", "en"))
        with self._lock:
            self._status[name].received += 1
        log.info(
            "CAP feed %s: alert %s → %s%s",
            name,
            outcome.alert_id,
            outcome.action,
            " (seen before)" if outcome.duplicate else "",
        )
        return None

    def _error(self, name: str, message: str) -> None:
        log.warning("CAP feed %s: %s", name, message)
        with self._lock:
            self._status[name].last_error = message[:500]
            self._status[name].last_error_at = utcnow()


def _get(
    http: httpx.Client, url: str, headers: dict[str, str]
) -> tuple[int, bytes, str, httpx.Headers]:
    """GET at most ``MAX_BYTES`` (a CAP document's limit): status, body, final URL, headers."""
    with http.stream("GET", url, headers=headers) as response:
        if response.status_code == 304:
            return 304, b"", str(response.url), response.headers
        response.raise_for_status()
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > MAX_BYTES:
                raise NotAFeed(f"larger than {MAX_BYTES // 2**20} MiB")
            chunks.append(chunk)
        return response.status_code, b"".join(chunks), str(response.url), response.headers
