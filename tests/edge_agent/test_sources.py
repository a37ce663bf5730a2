"""A late join opens stored media at an offset: the same samples the on-time loudspeakers are
playing at that moment, from the decoded cache and from ffmpeg's pipe (real ffmpeg)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from edge_agent.cache import MediaCache
from edge_agent.sources import MediaSources, Prepared
from protocol.messages import MediaRef, PlayCommand, utcnow
from tests.support.audio import RATE, correlation, decode, make_speech


def _read_all(source) -> np.ndarray:  # type: ignore[no-untyped-def]
    parts = []
    while chunk := source.read(9600):
        parts.append(chunk)
    source.close()
    return np.frombuffer(b"".join(parts), dtype="<i2").astype(np.float64) / 32768.0


@pytest.fixture
def speech(tmp_path: Path) -> tuple[Path, np.ndarray]:
    path = make_speech(tmp_path / "bulletin.opus")
    return path, decode(path)


@pytest.mark.parametrize("decoded_ahead", [True, False], ids=["pcm-cache", "ffmpeg-pipe"])
def test_stored_media_opened_at_an_offset_gives_the_audio_from_that_instant(
    tmp_path: Path, speech: tuple[Path, np.ndarray], decoded_ahead: bool
):
    path, whole = speech
    cmd = PlayCommand(
        play_id="p",
        broadcast_id="p",
        start_at=utcnow() - timedelta(seconds=1),
        media=MediaRef(
            sha256="0" * 64,
            url="/media/x",
            size=path.stat().st_size,
            duration_ms=round(len(whole) * 1000 / RATE),
        ),
    )
    pcm = None
    if decoded_ahead:
        pcm = tmp_path / "bulletin.pcm"
        pcm.write_bytes((whole * 32768.0).astype("<i2").tobytes())
    sources = MediaSources(MediaCache(tmp_path / "cache", "http://127.0.0.1:9", "t"))
    prepared = Prepared(ahead_s=0.2, fetched_bytes=0, path=path, pcm=pcm)

    joined = _read_all(sources.open(cmd, prepared, None, offset_s=1.25))

    expected = whole[round(1.25 * RATE) :]
    assert abs(len(joined) - len(expected)) <= RATE // 50  # within 20 ms of the rest
    score, lag = correlation(joined, expected)
    assert score > 0.95
    assert abs(lag) <= RATE // 200
