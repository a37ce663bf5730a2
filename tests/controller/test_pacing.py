"""The live channel's queue: a source's audio is given back 20 ms at a time on the
controller's clock, after a pre-roll, with silence when the source is late and its oldest
audio dropped when it runs ahead (so the voice stays near live)."""

from __future__ import annotations

from controller.streams.pacing import FRAME_BYTES, PacedQueue


def ramp(n_frames: int, start: int = 1) -> bytes:
    return b"".join(bytes([start + i]) * FRAME_BYTES for i in range(n_frames))


def test_it_plays_only_once_the_pre_roll_is_there():
    q = PacedQueue(preroll_s=0.06)  # three frames
    q.put(ramp(2))
    assert q.frame() == bytes(FRAME_BYTES)  # two frames held: still filling
    q.put(ramp(1, start=3))
    assert [q.frame()[0] for _ in range(3)] == [1, 2, 3]


def test_a_late_source_gives_silence_then_fills_its_pre_roll_again():
    q = PacedQueue(preroll_s=0.04)
    q.put(ramp(2))
    assert [q.frame()[0] for _ in range(2)] == [1, 2]
    assert q.frame() == bytes(FRAME_BYTES)
    assert q.underruns == 1
    q.put(ramp(1, start=7))
    assert q.frame() == bytes(FRAME_BYTES)  # one frame: below the pre-roll again
    q.put(ramp(1, start=8))
    assert [q.frame()[0] for _ in range(2)] == [7, 8]


def test_a_source_running_ahead_loses_its_oldest_audio_not_its_newest():
    q = PacedQueue(preroll_s=0.04, slack_s=0.04)  # at most 4 frames held
    q.put(ramp(6))  # a burst after a stall
    assert q.dropped_bytes == 4 * FRAME_BYTES  # back to the pre-roll: the two newest stay
    assert [q.frame()[0] for _ in range(2)] == [5, 6]
