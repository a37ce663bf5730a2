"""The player's timing and arbitration, in milliseconds: a dummy source, the real file output.

What came out is read back from the WAV files the file output wrote (the bytes a sound card
would have got); what the player said is the events it emitted.
"""

from __future__ import annotations

import json
import threading
import wave
from datetime import timedelta
from pathlib import Path

import pytest

from edge_agent.clock import Clock, SystemClock
from edge_agent.outputs.base import BYTES_PER_SECOND, SAMPLE_WIDTH
from edge_agent.outputs.file import FileOutput
from edge_agent.player import Player
from edge_agent.resume import preempted_by, resume_until
from edge_agent.sources import Prepared, SourceFailed, SourceOutcome, pcm_bytes
from protocol.messages import (
    MediaRef,
    PlaybackFailedEvent,
    PlaybackFinishedEvent,
    PlaybackStartedEvent,
    PlayCommand,
    Priority,
    SecurityEvent,
    StreamRef,
    utcnow,
)
from tests.support.clock import StoppedClock
from tests.support.pcm_source import PcmSource
from tests.support.stack import wait_for

SHA = "0" * 64


class Tone(PcmSource):
    """``ms`` of a constant sample value: what a play wrote can be told apart by its level."""

    def __init__(self, ms: int, level: int, offset_s: float = 0.0):
        pcm = level.to_bytes(2, "little", signed=True) * (
            BYTES_PER_SECOND // 1000 * ms // SAMPLE_WIDTH
        )
        super().__init__(pcm[pcm_bytes(offset_s) :])


class SilentStream(Tone):
    """A stream that never gave a sound: silence for its slot, and its outcome says so."""

    def outcome(self, written: int) -> SourceOutcome:
        return SourceOutcome(
            failure=("stream_unavailable", "404"), extra={"dead_air_ms": written // 96}
        )


class DummySources:
    """Each play id gets a tone of its own length and level; ``broken`` ids fail to prepare."""

    def __init__(self) -> None:
        self.tones: dict[str, tuple[int, int]] = {}
        self.broken: dict[str, SourceFailed] = {}
        self.offsets: dict[str, float] = {}
        self.silent: set[str] = set()

    def prepare(self, cmd: PlayCommand, deadline_ts: float) -> Prepared:
        if cmd.play_id in self.broken:
            raise self.broken[cmd.play_id]
        return Prepared(ahead_s=0.01, fetched_bytes=0)

    def open(
        self, cmd: PlayCommand, prepared: Prepared, volume: int | None, offset_s: float = 0.0
    ) -> Tone:
        ms, level = self.tones[cmd.play_id]
        self.offsets[cmd.play_id] = offset_s
        return (SilentStream if cmd.play_id in self.silent else Tone)(ms, level, offset_s)


class Rig:
    def __init__(self, tmp_path: Path, clock: Clock | None = None):
        self.clock = clock or SystemClock()
        self.sources = DummySources()
        self.output = FileOutput(tmp_path / "out")
        self.events: list = []
        self.over: list[str] = []
        self._lock = threading.Lock()
        self.player = Player(
            "loa-1",
            self.output,
            self.sources,
            self._emit,
            clock=self.clock,
            on_over=self.over.append,
        )

    def _emit(self, event) -> None:  # type: ignore[no-untyped-def]
        with self._lock:
            self.events.append(event)

    def play(
        self,
        play_id: str,
        *,
        in_ms: int,
        ms: int,
        level: int = 1000,
        priority: Priority = Priority.normal,
        late_ms: int = 2000,
    ) -> PlayCommand:
        self.sources.tones[play_id] = (ms, level)
        start = self.clock.now() + timedelta(milliseconds=in_ms)
        cmd = PlayCommand(
            play_id=play_id,
            broadcast_id=play_id,
            start_at=start,
            priority=priority,
            media=MediaRef(sha256=SHA, url="/media/x", size=1, duration_ms=ms),
        )
        self.player.schedule(cmd, start + timedelta(milliseconds=late_ms))
        return cmd

    def of(self, cls: type, play_id: str) -> list:
        with self._lock:
            return [e for e in self.events if isinstance(e, cls) and e.play_id == play_id]

    def finished(self, play_id: str, timeout: float = 5.0):  # type: ignore[no-untyped-def]
        return wait_for(
            lambda: (
                self.of(PlaybackFinishedEvent, play_id) or self.of(PlaybackFailedEvent, play_id)
            ),
            timeout,
            0.01,
            f"{play_id} over",
        )[0]

    def wav(self, play_id: str) -> tuple[int, set[int]]:
        """Samples written for a play and the sample values among them."""
        [path] = [p for p in self.output.dir.glob("*.wav") if play_id in p.name]
        with wave.open(str(path)) as w:
            frames = w.readframes(w.getnframes())
        values = {
            int.from_bytes(frames[i : i + 2], "little", signed=True)
            for i in range(0, len(frames), SAMPLE_WIDTH)
        }
        return len(frames) // SAMPLE_WIDTH, values

    def sidecar(self, play_id: str) -> dict:
        [path] = [p for p in self.output.dir.glob("*.json") if play_id in p.name]
        return json.loads(path.read_text())


def _samples(ms: int) -> int:
    return BYTES_PER_SECOND // SAMPLE_WIDTH * ms // 1000


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    yield (r := Rig(tmp_path))
    r.player.shutdown()


def test_a_play_starts_at_its_instant_and_writes_all_of_its_audio(rig: Rig):
    cmd = rig.play("p1", in_ms=300, ms=200)  # time to open it ahead, even on a loaded machine
    done = rig.finished("p1")
    assert isinstance(done, PlaybackFinishedEvent)
    assert not done.interrupted
    [started] = rig.of(PlaybackStartedEvent, "p1")
    assert started.actual_start >= cmd.start_at  # never early
    assert done.played_ms == 200
    assert rig.wav("p1") == (_samples(200), {1000})
    assert rig.over == ["p1"]
    assert not rig.player.has("p1")


def test_an_undisciplined_clock_places_the_start_by_its_measured_offset(tmp_path: Path):
    """Only the agent's own SNTP reading: this clock is 300 ms behind true time, so the
    play starts when it reads start_at − 300 ms, and the report says which clock it used."""
    rig = Rig(tmp_path)
    rig.player._clock_correction = lambda: (0.3, "offset")
    try:
        cmd = rig.play("p1", in_ms=600, ms=100)
        assert isinstance(rig.finished("p1"), PlaybackFinishedEvent)
        [started] = rig.of(PlaybackStartedEvent, "p1")
        assert started.clock_source == "offset"
        # before start_at on its own clock, never before the start placed for it
        assert cmd.start_at - timedelta(milliseconds=300) <= started.actual_start
        assert started.actual_start < cmd.start_at
    finally:
        rig.player.shutdown()


def test_a_higher_priority_preempts_and_the_lower_is_reported_interrupted_by_it(rig: Rig):
    # its window closes at its start (max_late 0): once cut, it does not come back
    rig.play("normal", in_ms=50, ms=2000, level=100, late_ms=0)
    rig.play("alarm", in_ms=300, ms=200, level=9000, priority=Priority.emergency)
    low, high = rig.finished("normal"), rig.finished("alarm")
    assert low.interrupted
    assert low.interrupted_by == "emergency:alarm"
    assert high.interrupted is False
    assert high.played_ms == 200
    assert low.played_ms < 2000
    assert rig.of(PlaybackStartedEvent, "alarm")[0].actual_start >= low.actual_start
    samples, values = rig.wav("normal")
    assert samples < _samples(2000)
    assert values == {100}
    assert rig.wav("alarm") == (_samples(200), {9000})


def test_a_bulletin_cut_by_an_emergency_replays_from_its_start_while_its_window_is_open(
    rig: Rig,
):
    rig.play("normal", in_ms=50, ms=800, level=100, late_ms=3000)
    rig.play("alarm", in_ms=300, ms=300, level=9000, priority=Priority.emergency)
    cut = rig.finished("normal")
    assert cut.interrupted
    assert cut.interrupted_by == "emergency:alarm"
    alarm = rig.finished("alarm")
    again = wait_for(
        lambda: [e for e in rig.of(PlaybackFinishedEvent, "normal") if not e.interrupted],
        5,
        0.01,
        "the bulletin played again",
    )[0]
    assert again.resumed_after == "emergency:alarm"
    assert again.played_ms == 800  # from its start, all of it
    restarted = rig.of(PlaybackStartedEvent, "normal")[-1]
    assert restarted.resumed_after == "emergency:alarm"
    assert restarted.actual_start >= alarm.actual_end  # after the emergency, never over it
    [replay] = [p for p in rig.output.dir.glob("*normal_r1.wav")]
    with wave.open(str(replay)) as w:
        assert w.getnframes() == _samples(800)
    assert rig.over == ["alarm", "normal"]


def test_a_bulletin_whose_window_closed_during_the_emergency_stays_cut(rig: Rig):
    rig.play("normal", in_ms=50, ms=800, level=100, late_ms=300)
    rig.play("alarm", in_ms=200, ms=500, level=9000, priority=Priority.emergency)
    assert rig.finished("normal").interrupted
    rig.finished("alarm")
    wait_for(lambda: sorted(rig.over) == ["alarm", "normal"], 5, 0.01, "both over")
    assert len(rig.of(PlaybackStartedEvent, "normal")) == 1
    assert len(list(rig.output.dir.glob("*normal*.wav"))) == 1


def test_a_stopped_bulletin_does_not_come_back(rig: Rig):
    rig.play("normal", in_ms=50, ms=800, level=100, late_ms=5000)
    wait_for(lambda: rig.of(PlaybackStartedEvent, "normal"), 5, 0.01, "on air")
    rig.player.stop_now("stop: test")
    assert rig.finished("normal").interrupted_by == "stop: test"
    wait_for(lambda: rig.over == ["normal"], 5, 0.01, "over")
    assert len(rig.of(PlaybackStartedEvent, "normal")) == 1


def test_the_resume_rule_for_bulletins_relays_and_live():
    start = utcnow()
    bulletin = PlayCommand(
        play_id="b",
        broadcast_id="b",
        start_at=start,
        media=MediaRef(sha256=SHA, url="/m", size=1, duration_ms=60_000),
    )
    relay = PlayCommand(
        play_id="r",
        broadcast_id="r",
        start_at=start,
        stream=StreamRef(url="http://127.0.0.1/vov1.mp3", duration_s=1800),
    )
    window = start + timedelta(seconds=120)
    assert resume_until(bulletin, window) == window  # its play window
    assert resume_until(relay, window) == start + timedelta(seconds=1800)  # its slot
    assert preempted_by("emergency:b-123") == "b-123"
    assert preempted_by("stop: nhầm tin") is None
    assert preempted_by("cancel") is None


def test_an_equal_priority_waits_for_the_output_and_gives_up_after_its_window(rig: Rig):
    rig.play("first", in_ms=50, ms=600)
    rig.play("second", in_ms=100, ms=200, late_ms=100)  # may start until 200 ms: too soon
    rig.play("third", in_ms=150, ms=200, late_ms=3000)  # waits, then plays after "first"
    assert rig.finished("first").interrupted is False
    busy = rig.finished("second")
    assert isinstance(busy, PlaybackFailedEvent)
    assert busy.reason == "output_busy"
    third = rig.finished("third")
    assert isinstance(third, PlaybackFinishedEvent)
    assert not third.interrupted
    assert third.actual_start >= rig.finished("first").actual_end


def test_a_play_whose_window_has_passed_on_the_agents_clock_is_too_late(tmp_path: Path):
    rig = Rig(tmp_path, clock=SystemClock(offset=timedelta(minutes=10)))
    # due 50 ms from now in true time: ten minutes ago on this agent's clock
    rig.play("late", in_ms=50 - 600_000, ms=200, late_ms=1000)
    failed = rig.finished("late")
    assert isinstance(failed, PlaybackFailedEvent)
    assert failed.reason == "too_late"
    assert list(rig.output.dir.glob("*.wav")) == []


def test_stop_silences_what_plays_and_keeps_what_is_due_later(rig: Rig):
    rig.play("now", in_ms=50, ms=3000)
    rig.play("later", in_ms=5000, ms=200)
    wait_for(lambda: rig.of(PlaybackStartedEvent, "now"), 5, 0.01, "now started")
    rig.player.stop_now("stop: test")
    stopped = rig.finished("now")
    assert stopped.interrupted
    assert stopped.interrupted_by == "stop: test"
    assert stopped.played_ms < 3000
    assert rig.sidecar("now")["interrupted"] is True
    assert rig.player.has("later")
    assert not rig.of(PlaybackFailedEvent, "later")


def test_a_cancel_before_the_start_plays_nothing_and_during_the_play_interrupts(rig: Rig):
    rig.play("ahead", in_ms=400, ms=200)
    rig.play("running", in_ms=50, ms=3000)
    rig.player.cancel("ahead")
    wait_for(lambda: not rig.player.has("ahead"), 5, 0.01, "cancelled play gone")
    assert not [p for p in rig.output.dir.glob("*.wav") if "ahead" in p.name]
    assert not rig.of(PlaybackStartedEvent, "ahead")
    wait_for(lambda: rig.of(PlaybackStartedEvent, "running"), 5, 0.01, "running started")
    rig.player.cancel("running")
    done = rig.finished("running")
    assert done.interrupted
    assert done.interrupted_by == "cancel"


def test_a_stream_stopped_before_its_sound_arrived_is_interrupted_not_failed(rig: Rig):
    """A relay cancelled while it still connects was stopped by the station, not lost: a
    failure ("stream unavailable") would tell the broadcaster something untrue."""
    rig.sources.silent.add("relay")
    rig.play("relay", in_ms=50, ms=3000, level=0)
    wait_for(lambda: rig.of(PlaybackStartedEvent, "relay"), 5, 0.01, "relay started")
    rig.player.cancel("relay")
    done = rig.finished("relay")
    assert isinstance(done, PlaybackFinishedEvent), done
    assert done.interrupted
    assert done.interrupted_by == "cancel"
    assert done.dead_air_ms is not None


def test_a_stream_that_gave_no_sound_for_its_whole_slot_fails(rig: Rig):
    rig.sources.silent.add("relay")
    rig.play("relay", in_ms=50, ms=300, level=0)
    done = rig.finished("relay")
    assert isinstance(done, PlaybackFailedEvent), done
    assert done.reason == "stream_unavailable"


def test_media_that_is_not_what_was_signed_is_a_security_event_and_plays_nothing(rig: Rig):
    rig.sources.broken["tampered"] = SourceFailed(
        "media_hash_mismatch", "got sha256 1…", security=True
    )
    rig.play("tampered", in_ms=50, ms=200)
    failed = rig.finished("tampered")
    assert isinstance(failed, PlaybackFailedEvent)
    assert failed.reason == "media_hash_mismatch"
    [security] = [e for e in rig.events if isinstance(e, SecurityEvent)]
    assert security.reason == "media_hash_mismatch"
    assert security.play_id == "tampered"
    assert list(rig.output.dir.glob("*.wav")) == []


def test_a_play_ready_after_its_start_joins_at_the_offset_the_others_have_reached(
    tmp_path: Path,
):
    """An emergency whose command came 1.5 s late plays in step with the loudspeakers that
    were on time: from 1.5 s into its audio, not from the beginning. (On a clock that does
    not move, so the offset is exact.)"""
    rig = Rig(tmp_path, clock=StoppedClock(utcnow()))
    try:
        cmd = rig.play("late", in_ms=-1500, ms=4000, late_ms=10_000)
        done = rig.finished("late")
    finally:
        rig.player.shutdown()
    assert isinstance(done, PlaybackFinishedEvent)
    assert not done.interrupted
    [started] = rig.of(PlaybackStartedEvent, "late")
    assert started.joined_late_ms == 1500
    assert done.joined_late_ms == 1500
    assert started.actual_start - cmd.start_at == timedelta(milliseconds=1500)
    samples, values = rig.wav("late")
    assert samples == _samples(4000 - 1500)  # the rest of the audio, in step
    assert values == {1000}
    assert done.played_ms == 2500


def test_an_on_time_play_and_one_that_waited_for_the_output_start_from_the_beginning(rig: Rig):
    rig.play("first", in_ms=50, ms=500)
    rig.play("queued", in_ms=100, ms=300, late_ms=3000)  # ready on time, waits for "first"
    assert rig.finished("first").joined_late_ms is None
    queued = rig.finished("queued")
    assert isinstance(queued, PlaybackFinishedEvent)
    assert queued.joined_late_ms is None
    assert rig.wav("queued")[0] == _samples(300)
    assert rig.sources.offsets["queued"] == 0.0


def test_a_play_ready_after_its_audio_would_have_ended_is_too_late_and_plays_nothing(rig: Rig):
    rig.play("over", in_ms=-3000, ms=2000, late_ms=10_000)
    failed = rig.finished("over")
    assert isinstance(failed, PlaybackFailedEvent)
    assert failed.reason == "too_late"
    assert "already over" in failed.detail
    assert list(rig.output.dir.glob("*.wav")) == []
