"""The station's pinned emergency messages on this cluster: the set a signed ``pin`` command
named, kept on disk until the next set, its audio fetched into the media cache and never
evicted (the cache protects it), so that an SMS order plays it with no data link at all.

``pinned.json`` holds the set asked for; ``version`` (``held``) is reported only once every
message's audio is on disk, so the controller can tell a cluster that misses it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from protocol.messages import MediaRef, PinCommand, PinnedMessage, convert, to_builtins

from .cache import MediaCache, MediaUnavailable
from .fsutil import atomic_write, read_json

log = logging.getLogger(__name__)

RETRY_S = (5.0, 15.0, 60.0, 300.0)
"""Waits between attempts to fetch a set's audio (the link may be down for hours)."""


class PinnedMessages:
    def __init__(
        self,
        path: Path,
        cache: MediaCache,
        on_held: Callable[[int], None] = lambda version: None,
    ):
        self._path = path
        self._cache = cache
        self._on_held = on_held  # a health report goes out at once: the controller sees it
        self._lock = threading.Lock()
        self._wanted: PinCommand | None = None
        self._held: int | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        saved = read_json(path, None)
        if isinstance(saved, dict):
            try:
                self._wanted = convert(saved["set"], PinCommand)
                self._held = saved.get("held")
            except (KeyError, TypeError, ValueError) as exc:
                log.error("pinned set on disk unreadable (%s): waiting for the next", exc)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._keep, name="pinned", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    # --- what the agent asks ------------------------------------------------------------

    @property
    def held_version(self) -> int | None:
        """The set whose every message is on disk (None: none yet)."""
        with self._lock:
            wanted, held = self._wanted, self._held
        if wanted is None or held != wanted.version:
            return None
        return held

    def media(self) -> set[str]:
        """Audio the cache must never evict: the wanted set's."""
        with self._lock:
            wanted = self._wanted
        return {m.media.sha256 for m in wanted.messages} if wanted else set()

    @property
    def receiver_floor(self) -> int | None:
        """The station's floor for home receivers as the set last carried it."""
        with self._lock:
            wanted = self._wanted
        return wanted.receiver_floor if wanted else None

    def find(self, message_id: str) -> PinnedMessage | None:
        """A message of the set, if its audio is on disk."""
        with self._lock:
            wanted = self._wanted
        for m in wanted.messages if wanted else ():
            if m.id == message_id:
                return m if self._cache.has(m.media.sha256) else None
        return None

    def pin(self, command: PinCommand) -> None:
        """A new set (from a verified command): stored, then its audio fetched."""
        with self._lock:
            if self._wanted is not None and command.version < self._wanted.version:
                log.info(
                    "pinned set %d older than %d: ignored", command.version, self._wanted.version
                )
                return
            self._wanted = command
            if self._held != command.version:
                self._held = None
            self._save()
        self._wake.set()

    # --- keeping it whole ---------------------------------------------------------------

    def _save(self) -> None:
        data = {"set": to_builtins(self._wanted), "held": self._held}
        atomic_write(self._path, json.dumps(data).encode())

    def _missing(self, wanted: PinCommand) -> list[MediaRef]:
        return [m.media for m in wanted.messages if not self._cache.has(m.media.sha256)]

    def _keep(self) -> None:
        """Fetch what the wanted set lacks (again after a failure, and whenever the cache
        lost a file); say the version once the set is whole."""
        failures = 0
        while not self._stop.is_set():
            with self._lock:
                wanted = self._wanted
            if wanted is None:
                self._wake.wait(60)
                self._wake.clear()
                continue
            try:
                for ref in self._missing(wanted):
                    self._cache.fetch(ref, time.time() + 120)
            except (MediaUnavailable, OSError, ValueError) as exc:
                failures += 1
                wait = RETRY_S[min(failures, len(RETRY_S)) - 1]
                log.warning(
                    "pinned set %d not whole yet (%s): again in %.0f s", wanted.version, exc, wait
                )
                self._wake.wait(wait)
                self._wake.clear()
                continue
            failures = 0
            told = False
            with self._lock:
                if self._wanted is wanted and self._held != wanted.version:
                    self._held = wanted.version
                    self._save()
                    told = True
            if told:
                log.info("pinned set %d held (%d messages)", wanted.version, len(wanted.messages))
                self._on_held(wanted.version)
            self._wake.wait(600)
            self._wake.clear()
