"""A relay on the station's timeline: the station's own copy of the relayed stream first
(stamped, so every loudspeaker plays it in step: ``stamped_stream.py``); the original URLs
(then the fallback file, then FM: ``stream.py``) when that copy gives nothing for
``give_up_s`` — the controller or its stream server out of reach, or the copy mute. Once on the
originals the relay stays there: out of step, but on air."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from protocol.urls import without_credentials as shown

from .stamped_stream import StampedStream
from .stream import BYTES_PER_SECOND, DEAD_AIR_S, StreamSource

log = logging.getLogger(__name__)

GIVE_UP_S = 6.0  # the station's copy silent or missing this long: the originals play


class TimedRelay:
    """``read(n)``: the station's copy at capture + delay, or the originals after it failed."""

    def __init__(
        self,
        copy: StampedStream,
        originals: Callable[[float], StreamSource],
        original_urls: list[str],
        duration_s: float,
        give_up_s: float = GIVE_UP_S,
        mute_s: float | None = None,
    ):
        self._copy = copy
        self._make_originals = originals  # given the seconds left
        self._original_urls = original_urls  # what the originals' source will hold
        self._originals: StreamSource | None = None
        self._remaining = int(duration_s * BYTES_PER_SECOND)
        self._without = 0  # bytes read since the copy last gave audio
        self._give_up = int(give_up_s * BYTES_PER_SECOND)
        self._mute = int((mute_s or DEAD_AIR_S) * BYTES_PER_SECOND)
        self.left_copy: str | None = None  # why the originals play ("unreachable", "mute")

    def read(self, size: int) -> bytes:
        if self._originals is not None:
            return self._originals.read(size)
        before = self._copy.audio_bytes
        pcm = self._copy.read(size)
        self._remaining -= len(pcm)
        self._without = 0 if self._copy.audio_bytes > before else self._without + len(pcm)
        if self._without >= self._give_up:
            self._leave_copy("unreachable")
        elif self._copy.silent_run >= self._mute:
            self._leave_copy("mute")
        return pcm

    def align(self, heard_at: datetime, clock_offset_s: float = 0.0) -> None:
        if self._originals is None:
            self._copy.align(heard_at, clock_offset_s)

    def _leave_copy(self, why: str) -> None:
        log.warning(
            "relay: the station's copy %s is %s; playing the original, out of step",
            shown(self._copy.urls[0]),
            why,
        )
        self.left_copy = why
        self._copy.close()
        self._originals = self._make_originals(self._remaining / BYTES_PER_SECOND)

    # --- what the report is made of (both parts together) ----------------------------------

    @property
    def urls(self) -> list[str]:
        return [*self._copy.urls, *self._original_urls]

    @property
    def urls_played(self) -> list[str]:
        originals = self._originals.urls_played if self._originals else []
        return [*self._copy.urls_played, *originals]

    @property
    def audio_bytes(self) -> int:
        return self._copy.audio_bytes + (self._originals.audio_bytes if self._originals else 0)

    @property
    def silent_bytes(self) -> int:
        return self._copy.silent_bytes + (self._originals.silent_bytes if self._originals else 0)

    @property
    def silence_switches(self) -> int:
        switched = 1 if self.left_copy == "mute" else 0
        return switched + (self._originals.silence_switches if self._originals else 0)

    @property
    def stamped(self) -> bool | None:
        return self._copy.stamped if self._originals is None else False

    @property
    def late_ms(self) -> int:
        return self._copy.late_ms

    def error(self) -> str:
        if self._originals is not None:
            return self._originals.error()
        return self._copy.error()

    def close(self) -> None:
        self._copy.close()
        if self._originals is not None:
            self._originals.close()
