"""The ALSA output on paced sound devices (PulseAudio null sinks through ALSA's pulse plugin).

What is checked is the audio that came out of each device, recorded back on one sample
clock: the first click of a play where the start says, loudspeakers together, the reported
start where the recording puts it, a stall that does not carry a loudspeaker off its
timeline, and a device that cannot be opened reported in words. The bounds are generous
(tens of ms) so a loaded machine does not fail them; bench/sync.py measures the figures.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from edge_agent.outputs.alsa import AlsaOutput
from edge_agent.outputs.base import SAMPLE_RATE
from edge_agent.player import Player
from edge_agent.sources import Prepared
from protocol.messages import (
    AlarmCode,
    AlarmEvent,
    MediaRef,
    PlaybackFailedEvent,
    PlaybackFinishedEvent,
    PlaybackStartedEvent,
    PlayCommand,
    utcnow,
)
from tests.support.pcm_source import PcmSource
from tests.support.sound_room import SoundRoom
from tests.support.stack import wait_for

CLICK = 20000


class ClickTrack(PcmSource):
    """Silence with a 5 ms click at each whole second, from 0 s; ``stall_at_s`` makes the
    source hang for ``stall_s`` when the player reads past that point (a stalled stream)."""

    def __init__(self, seconds: int, stall_at_s: float | None = None, stall_s: float = 0.0):
        frames = seconds * SAMPLE_RATE
        pcm = bytearray(frames * 2)
        click = CLICK.to_bytes(2, "little", signed=True) * (SAMPLE_RATE // 200)
        for s in range(seconds):
            pcm[s * SAMPLE_RATE * 2 : s * SAMPLE_RATE * 2 + len(click)] = click
        super().__init__(bytes(pcm))
        self._stall = None if stall_at_s is None else int(stall_at_s * SAMPLE_RATE * 2)
        self._stall_s = stall_s

    def read(self, size: int) -> bytes:
        if self._stall is not None and self._pos >= self._stall:
            self._stall = None
            time.sleep(self._stall_s)
        return super().read(size)


class ClickSources:
    def __init__(self, track) -> None:  # type: ignore[no-untyped-def]
        self._track = track

    def prepare(self, cmd: PlayCommand, deadline_ts: float) -> Prepared:
        return Prepared(ahead_s=0.01, fetched_bytes=0)

    def open(self, cmd, prepared, volume, offset_s=0.0):  # type: ignore[no-untyped-def]
        return self._track()


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory):
    with SoundRoom(3, tmp_path_factory.mktemp("room")) as r:
        r.record()
        yield r


@pytest.fixture
def pulse_env(room: SoundRoom, monkeypatch: pytest.MonkeyPatch) -> SoundRoom:
    for key, value in room.env.items():
        monkeypatch.setenv(key, value)
    return room


class Speaker:
    def __init__(self, device: str, track) -> None:  # type: ignore[no-untyped-def]
        self.events: list = []
        self._lock = threading.Lock()
        self.player = Player("loa-1", AlsaOutput(device), ClickSources(track), self._emit)

    def _emit(self, event) -> None:  # type: ignore[no-untyped-def]
        with self._lock:
            self.events.append(event)

    def play(self, play_id: str, start, seconds: int) -> None:  # type: ignore[no-untyped-def]
        cmd = PlayCommand(
            play_id=play_id,
            broadcast_id=play_id,
            start_at=start,
            media=MediaRef(sha256="0" * 64, url="/m", size=1, duration_ms=seconds * 1000),
        )
        self.player.schedule(cmd, start + timedelta(seconds=5))

    def of(self, cls: type) -> list:
        with self._lock:
            return [e for e in self.events if isinstance(e, cls)]

    def over(self, timeout: float = 15.0):  # type: ignore[no-untyped-def]
        return wait_for(
            lambda: self.of(PlaybackFinishedEvent) or self.of(PlaybackFailedEvent),
            timeout,
            0.05,
            "play over",
        )[0]


def _clicks(room: SoundRoom, channel: int, after: float, count: int) -> list[float]:
    """Wall-clock times of the first ``count`` clicks a loudspeaker played after ``after``."""
    times, t = [], after
    for _ in range(count):
        onset = room.onsets(t)[channel]
        assert onset is not None, f"loudspeaker {channel} played no click after {t}"
        times.append(onset.at)
        t = onset.at + 0.5
    return times


def test_three_loudspeakers_start_on_the_instant_and_report_it_truly(pulse_env: SoundRoom):
    room = pulse_env
    speakers = [Speaker(room.device(i), lambda: ClickTrack(3)) for i in range(3)]
    start = utcnow() + timedelta(seconds=1.5)
    for i, speaker in enumerate(speakers):
        speaker.play(f"p{i}", start, 3)
    for speaker in speakers:
        assert isinstance(speaker.over(), PlaybackFinishedEvent)
    time.sleep(0.3)  # the recorder is a few ms behind the sinks
    heard = [_clicks(room, i, start.timestamp() - 0.5, 3) for i in range(3)]
    firsts = [h[0] for h in heard]
    assert max(firsts) - min(firsts) < 0.03, f"loudspeakers apart: {firsts}"
    for i, speaker in enumerate(speakers):
        assert abs(heard[i][0] - start.timestamp()) < 0.05, "the first click is at the start"
        assert heard[i][2] - heard[i][0] == pytest.approx(2.0, abs=0.01), "in step after"
        [started] = speaker.of(PlaybackStartedEvent)
        assert started.clock_source == "free"
        assert abs(started.actual_start.timestamp() - heard[i][0]) < 0.03, "reported truly"
        finished = speaker.of(PlaybackFinishedEvent)[0]
        assert finished.underruns == 0
        assert finished.played_ms == 3000
        speaker.player.shutdown()


def test_a_stalled_source_runs_dry_then_rejoins_the_timeline(pulse_env: SoundRoom):
    room = pulse_env
    speaker = Speaker(room.device(0), lambda: ClickTrack(4, stall_at_s=1.2, stall_s=0.5))
    for run in range(2):
        start = utcnow() + timedelta(seconds=1.0)
        speaker.play(f"stall{run}", start, 4)
        finished = wait_for(
            lambda run=run: [
                e for e in speaker.of(PlaybackFinishedEvent) if e.play_id == f"stall{run}"
            ],
            15,
            0.05,
            "play over",
        )[0]
        time.sleep(0.3)
        clicks = _clicks(room, 0, start.timestamp() - 0.5, 4)
        # the click at 2 s was due 0.8 s after the stall began: the card ran dry, then dropped
        # what was late so that click came where the timeline puts it, not 0.5 s behind
        assert [c - start.timestamp() for c in clicks] == pytest.approx([0, 1, 2, 3], abs=0.05)
        assert finished.underruns >= 1
        assert finished.timeline_rejoins >= 1
        alarms = [a for a in speaker.of(AlarmEvent) if a.code == AlarmCode.audio_output]
        if run == 0:  # once is a moment of load: in the report, not an alarm
            assert alarms == []
    # twice in a row persists: the technician is told, in words
    [alarm] = alarms
    assert alarm.active
    assert "underrun" in alarm.detail
    speaker.player.shutdown()


def test_a_device_that_cannot_be_opened_fails_the_play_in_words(pulse_env: SoundRoom):
    speaker = Speaker("pulse:no-such-sink", lambda: ClickTrack(1))
    speaker.play("nodev", utcnow() + timedelta(seconds=0.6), 1)
    failed = speaker.over()
    assert isinstance(failed, PlaybackFailedEvent)
    assert failed.reason == "output_error"
    assert "pulse:no-such-sink" in failed.detail
    [alarm] = speaker.of(AlarmEvent)
    assert alarm.code == AlarmCode.audio_output
    assert alarm.active
    assert "cannot open the sound card" in alarm.detail
    speaker.player.shutdown()
