"""Stream playback against a real Icecast: buffering, drops, fallback, and nothing at all."""

from __future__ import annotations

import time

import numpy as np

from edge_agent.outputs.base import BYTES_PER_SECOND
from edge_agent.stamped_stream import StampedStream
from edge_agent.stream import StreamSource
from edge_agent.timed_relay import TimedRelay
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


def _timed_relay(icecast: Icecast, copy_mount: str, seconds: float) -> TimedRelay:
    """A relay whose station copy is ``copy_mount`` (delay 0.5 s) and whose original is
    ``vov1.ogg`` (440 Hz): the copy is told apart by its pitch (880 Hz)."""
    originals = [icecast.url("vov1.ogg")]
    return TimedRelay(
        StampedStream(icecast.url(copy_mount), seconds, None, 0.5),
        lambda left: StreamSource("ffmpeg", originals, left, None),
        originals,
        seconds,
        give_up_s=2.0,
        mute_s=2.0,
    )


def test_a_relay_plays_the_stations_copy_while_it_gives_sound(icecast: Icecast):
    icecast.feed("vov1.ogg", 440)
    icecast.feed("r-copy.ogg", 880)  # (unstamped here: placed by arrival, still the copy)
    for mount in ("vov1.ogg", "r-copy.ogg"):
        wait_for(lambda m=mount: icecast.mount_up(m), what=f"{mount} up")
    relay = _timed_relay(icecast, "r-copy.ogg", 5)
    try:
        pcm = _play(relay, 5)  # type: ignore[arg-type]
    finally:
        relay.close()
    assert len(pcm) == 5 * 48000
    assert relay.left_copy is None
    assert relay.urls_played == [icecast.url("r-copy.ogg")]
    assert abs(dominant_hz(pcm[-48000:]) - 880) < 5


def test_a_relay_whose_copy_is_unreachable_or_mute_plays_the_original(icecast: Icecast):
    icecast.feed("vov1.ogg", 440)
    icecast.feed("r-mute.ogg", 0)  # the station's copy connected but silent
    for mount in ("vov1.ogg", "r-mute.ogg"):
        wait_for(lambda m=mount: icecast.mount_up(m), what=f"{mount} up")
    for mount, why in (("r-missing.ogg", "unreachable"), ("r-mute.ogg", "mute")):
        relay = _timed_relay(icecast, mount, 6)
        try:
            pcm = _play(relay, 6)  # type: ignore[arg-type]
        finally:
            relay.close()
        assert len(pcm) == 6 * 48000, mount  # the slot keeps its length across the switch
        assert relay.left_copy == why
        assert relay.urls_played[-1] == icecast.url("vov1.ogg")
        assert relay.stamped is False  # out of step from the switch on
        tail = pcm[-48000:]
        assert abs(dominant_hz(tail) - 440) < 5, mount
        assert np.sqrt(np.mean(tail**2)) > 1000
