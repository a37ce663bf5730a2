"""Live audio placed on the station's timeline (Snapcast's idea over Ogg/Opus). Pure.

The controller paces what it encodes on its own clock and names, in the stream's comment
header, the wall-clock instant of its first sample (``LOALANG_ORIGIN``, ns since the epoch).
A packet ending at granule ``g`` therefore holds the samples captured from
``origin + (g − pre_skip − n) / 48000``. Samples are numbered here from the epoch at 48 kHz,
so a new chain (the encoder restarted, a new origin) lands on the same numbering.

Every loudspeaker plays the sample captured at ``t`` at ``t + delay``: the player asks for
samples by number, what has not arrived in time is silence, what arrives after its time is
dropped. However each agent's buffer filled, they speak together.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime

RATE = 48000
NS = 1_000_000_000
ORIGIN_TAG = "LOALANG_ORIGIN"


def sample_number(ns: int) -> int:
    """The sample (48 kHz, counted from the epoch) that is captured at ``ns``."""
    return ns * RATE // NS


def sample_of(moment: datetime) -> int:
    """``sample_number`` of an aware datetime (microsecond resolution)."""
    return sample_number(round(moment.timestamp() * 1_000_000) * 1000)


def origin_ns(tags: dict[str, str]) -> int | None:
    """The origin a stream's comment header names, or None (an unstamped stream)."""
    text = tags.get(ORIGIN_TAG, "")
    return int(text) if text.isdigit() and len(text) < 25 else None


class TimelineBuffer:
    """Decoded audio by sample number; ``take`` reads from a cursor, silence where missing.

    Audio for samples before the cursor (already due) is dropped and counted as late;
    at most ``max_samples`` are held ahead (a clock far off, or a stream far ahead)."""

    def __init__(self, max_samples: int = 20 * RATE):
        self._parts: deque[tuple[int, bytes]] = deque()  # (first sample, 16-bit mono PCM)
        self._held = 0
        self._max = max_samples
        self.cursor: int | None = None  # the next sample ``take`` gives
        self.late = 0  # samples that came after their time
        self.missing = 0  # samples given as silence
        self.found = 0  # samples given from the stream

    @property
    def end(self) -> int | None:
        """One past the newest sample held."""
        if not self._parts:
            return None
        first, pcm = self._parts[-1]
        return first + len(pcm) // 2

    def put(self, first: int, pcm: bytes, count_late: bool = True) -> None:
        """Place audio; what is before the cursor is dropped (counted late unless told:
        a stream server's burst of old audio on connecting is not late, just old)."""
        if self.cursor is not None and first < self.cursor:
            cut = min(self.cursor - first, len(pcm) // 2)
            if count_late:
                self.late += cut
            first, pcm = first + cut, pcm[cut * 2 :]
        if not pcm:
            return
        end = self.end
        if end is not None and first < end:  # an overlap (a chain restarted): newest wins
            self._trim_from(first)
        self._parts.append((first, pcm))
        self._held += len(pcm) // 2
        while self._held > self._max and self._parts:
            _, old = self._parts.popleft()
            self._held -= len(old) // 2

    def covers(self, count: int) -> bool:
        """Whether the next ``count`` samples from the cursor have all arrived (or passed)."""
        end = self.end
        return self.cursor is not None and end is not None and end >= self.cursor + count

    def take(self, count: int) -> bytes:
        """The ``count`` samples from the cursor (silence for what is not here); moves on."""
        assert self.cursor is not None
        start, stop = self.cursor, self.cursor + count
        out = bytearray(count * 2)
        found = 0
        while self._parts:
            first, pcm = self._parts[0]
            last = first + len(pcm) // 2
            if last <= start:
                self._parts.popleft()
                self._held -= len(pcm) // 2
                continue
            if first >= stop:
                break
            lo, hi = max(first, start), min(last, stop)
            out[(lo - start) * 2 : (hi - start) * 2] = pcm[(lo - first) * 2 : (hi - first) * 2]
            found += hi - lo
            if last > stop:
                break
            self._parts.popleft()
            self._held -= len(pcm) // 2
        self.found += found
        self.missing += count - found
        self.cursor = stop
        return bytes(out)

    def _trim_from(self, sample: int) -> None:
        while self._parts:
            first, pcm = self._parts[-1]
            if first >= sample:
                self._parts.pop()
                self._held -= len(pcm) // 2
                continue
            keep = sample - first
            if keep * 2 < len(pcm):
                self._parts[-1] = (first, pcm[: keep * 2])
                self._held -= len(pcm) // 2 - keep
            return
