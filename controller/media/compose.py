"""Bulletins assembled from pieces with pydub: a chime, spoken parts, recordings in several
languages one after the other, silence between them — one WAV, normalised afterwards as a
whole (``pipeline.process_upload``), so every piece comes out at the same loudness."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

RATE = 48000


@dataclass(frozen=True)
class Piece:
    """An audio file, or a silence of ``silence_ms``."""

    path: Path | None = None
    silence_ms: int = 0


def compose(pieces: Iterable[Piece], out: Path) -> Path:
    """Join ``pieces`` into a mono 48 kHz 16-bit WAV at ``out``."""
    from pydub import AudioSegment  # the controller's only user of it; imported when used

    total = AudioSegment.empty().set_frame_rate(RATE).set_channels(1).set_sample_width(2)
    for piece in pieces:
        if piece.path is not None:
            segment = AudioSegment.from_file(piece.path)
            total += segment.set_channels(1).set_frame_rate(RATE).set_sample_width(2)
        elif piece.silence_ms > 0:
            total += AudioSegment.silent(duration=piece.silence_ms, frame_rate=RATE)
    total.export(out, format="wav")
    return out
