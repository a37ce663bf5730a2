"""Stream playback against a real Icecast: buffering, drops, fallback, and nothing at all."""

from __future__ import annotations

import time

import numpy as np

from edge_agent.outputs.base import BYTES_PER_SECOND
from edge_agent.stream import StreamSource
from tests.support.audio import dominant_hz
from tests.support.icecast import Icecast
from tests.support.stack import wait_for


def _play(source: StreamSource, seconds: float) -> np.ndarray:
    """Read like a sound card would: 100 ms every 100 ms."""
    chunks = []
    t0 = time.monotonic()
    while data := source.read(BYTES_PER_SECOND // 10):
        chunks.append(data)
        time.sleep(max(0.0, t0 + len(chunks) * 0.1 - time.monotonic()))
    return np.frombuffer(b"".join(chunks), dtype="<i2").astype(np.float64)


def test_dead_url_falls_back_and_a_slot_keeps_its_length(icecast: Icecast):
    icecast.feed("backup.ogg", 880)
    wait_for(lambda: icecast.mount_up("backup.ogg"), what="backup mount up")
    source = StreamSource(
        "ffmpeg", [icecast.url("nothing.ogg"), icecast.url("backup.ogg")], duration_s=6, volume=None
    )
    try:
        pcm = _play(source, 6)
    finally:
        source.close()
    assert len(pcm) == 6 * 48000  # exactly the slot, gaps filled with silence
    assert source.urls_played == [icecast.url("backup.ogg")]
    assert source.audio_bytes > 0
    tail = pcm[-48000:]
    assert abs(dominant_hz(tail) - 880) < 5
    assert np.sqrt(np.mean(tail**2)) > 1000


def test_no_stream_at_all_gives_silence_and_says_why(icecast: Icecast):
    source = StreamSource("ffmpeg", [icecast.url("nothing.ogg")], duration_s=2, volume=None)
    try:
        pcm = _play(source, 2)
    finally:
        source.close()
    assert len(pcm) == 2 * 48000
    assert not pcm.any()
    assert source.audio_bytes == 0
    assert "404" in source.error()
