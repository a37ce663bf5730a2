"""A player source over PCM held in memory: what the player's tests feed it instead of
ffmpeg, so what came out can be compared with what went in."""

from __future__ import annotations

from edge_agent.sources import SourceOutcome


class PcmSource:
    """Reads ``pcm`` (16-bit mono) from the start; subclasses set what it holds."""

    def __init__(self, pcm: bytes = b""):
        self._data = pcm
        self._pos = 0

    def read(self, size: int) -> bytes:
        data = self._data[self._pos : self._pos + size]
        self._pos += len(data)
        return data

    def align(self, heard_at: object, clock_offset_s: float = 0.0) -> None:
        pass

    def error(self) -> str:
        return "empty"

    def close(self) -> None:
        pass

    def outcome(self, written: int) -> SourceOutcome:
        return SourceOutcome()
