"""The microphone check's verdicts (edge_agent/hearing), on sound made by the acoustic model
of a cluster (loalang/acoustics.py): real speech through healthy, one-horn-dead, dead and
wrong-audio clusters, with noise; and a microphone that is silent or overloaded."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edge_agent.hearing.ear import Ear, Listening
from edge_agent.hearing.features import FRAME_S, Envelope, chime
from edge_agent.hearing.verdict import judge
from edge_agent.outputs.base import PlayInfo
from loalang.acoustics import (
    MIC_RATE,
    PLAYED_RATE,
    Fault,
    Microphone,
    Noise,
    Room,
    from_pcm,
    to_pcm,
)
from loalang.room_simulator import spoken
from protocol.messages import HeardVerdict, utcnow

PRE_S, POST_S = 0.5, 1.5
LAG = round(PRE_S / FRAME_S)


@pytest.fixture(scope="module")
def clips() -> tuple[np.ndarray, np.ndarray]:
    return (
        spoken("Kính thưa bà con, sáng mai xã tổ chức tiêm phòng cho trẻ em.", speed=170),
        spoken("Chương trình ca nhạc theo yêu cầu, mời quý vị cùng nghe.", speed=170),
    )


def _hear(room: Room, played: np.ndarray, seed: int = 1) -> tuple[Envelope, Envelope]:
    pad = np.zeros(int(PRE_S * PLAYED_RATE)), np.zeros(int(POST_S * PLAYED_RATE))
    heard = Microphone(room, seed).hear(np.concatenate([pad[0], played, pad[1]]))
    p, h = Envelope(PLAYED_RATE), Envelope(MIC_RATE)
    p.feed(to_pcm(played))
    h.feed(to_pcm(heard))
    return p, h


def _reference(noise: Noise) -> float:
    tone = from_pcm(chime(PLAYED_RATE)) * 0.3
    j = judge(*_hear(Room(noise=noise, snr_db=25), tone), expected_lag=LAG, reference_gain_db=None)
    assert j.verdict == HeardVerdict.heard, j
    assert j.gain_db is not None
    return j.gain_db


@pytest.mark.parametrize("noise", [Noise.rain, Noise.motorbikes, Noise.market])
@pytest.mark.parametrize("snr_db", [20.0, 0.0])
def test_each_fault_gets_its_own_verdict_down_to_0_db_of_noise(clips, noise, snr_db):
    bulletin, other = clips
    ref = _reference(noise)

    def verdict(fault: Fault, sounded: np.ndarray) -> tuple[HeardVerdict, float | None]:
        p, _ = _hear(Room(noise=noise, snr_db=snr_db), bulletin)  # what was played
        _, h = _hear(Room(fault=fault, noise=noise, snr_db=snr_db, delay_ms=40), sounded)
        j = judge(p, h, expected_lag=LAG, reference_gain_db=ref)
        return j.verdict, j.level_db

    healthy, level = verdict(Fault.ok, bulletin)
    assert healthy == HeardVerdict.heard
    assert level is not None
    assert abs(level) < 3, level
    quiet, level = verdict(Fault.one_dead, bulletin)
    assert quiet in (HeardVerdict.quiet, HeardVerdict.not_heard), quiet
    if snr_db >= 20:  # with little noise it is read as what it is: about 6 dB down
        assert quiet == HeardVerdict.quiet
        assert level is not None
        assert -9 < level < -4, level
    dead, _ = verdict(Fault.all_dead, bulletin)
    assert dead == HeardVerdict.not_heard
    wrong_sound = np.resize(other, len(bulletin))
    wrong, _ = verdict(Fault.wrong, wrong_sound)
    assert wrong in (HeardVerdict.wrong, HeardVerdict.not_heard)
    if snr_db >= 20:
        assert wrong == HeardVerdict.wrong


def test_the_delay_from_horn_to_microphone_is_measured(clips):
    p, h = _hear(Room(noise=Noise.quiet, delay_ms=200), clips[0])
    j = judge(p, h, expected_lag=LAG, reference_gain_db=None)
    assert j.verdict == HeardVerdict.heard
    assert j.delay_ms is not None
    assert 160 <= j.delay_ms <= 240, j.delay_ms


def test_too_little_sound_played_is_uncertain_not_a_fault():
    p, h = Envelope(PLAYED_RATE), Envelope(MIC_RATE)
    p.feed(bytes(PLAYED_RATE * 4))  # four seconds of silence played
    h.feed(to_pcm(np.random.default_rng(0).normal(0, 0.05, MIC_RATE * 6)))
    assert judge(p, h, expected_lag=LAG, reference_gain_db=0.0).verdict == HeardVerdict.uncertain


class _Mic:
    """A microphone that gives what it is told: silence, or a signal at full scale."""

    name = "test"

    def __init__(self, chunk: bytes):
        self.chunk = chunk

    def open(self) -> _Mic:
        return self

    def read(self) -> bytes:
        time.sleep(0.05)
        return self.chunk

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("chunk", "words"),
    [
        (bytes(1600), "gives no sound"),
        (to_pcm(np.sign(np.sin(np.arange(1600) / 3.0))), "overloaded"),
    ],
    ids=["silent", "clipped"],
)
def test_a_dead_or_overloaded_microphone_cannot_check_and_says_so(tmp_path, clips, chunk, words):
    events: list[object] = []
    ear = Ear("loa-1", _Mic(chunk), events.append, tmp_path / "hearing.json")
    listening = Listening(ear, PlayInfo("p-1", "b-1", "x", utcnow()))
    listening.begin()
    listening.first_sample(0.0)
    listening.played.feed(to_pcm(clips[0][: PLAYED_RATE * 2]))
    listening.end()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(
        type(e).__name__ == "PlaybackHeardEvent" for e in events
    ):
        time.sleep(0.05)
    heard = next(e for e in events if type(e).__name__ == "PlaybackHeardEvent")
    assert heard.verdict == HeardVerdict.cannot_check
    assert words in heard.detail
    alarm = next(e for e in events if type(e).__name__ == "AlarmEvent")
    assert alarm.code.value == "microphone"
    assert alarm.active
    # never "not heard", and no hearing alarm raised for it
    assert not any(getattr(e, "code", None) and e.code.value == "hearing" for e in events)  # type: ignore[attr-defined]


def test_a_calibration_chime_not_heard_is_played_again_until_the_attempts_run_out(
    tmp_path, monkeypatch
):
    """At enrolment a chime not heard (here: a microphone giving nothing) is played again
    after the retry delay, as many times as it may and no more."""
    from edge_agent.hearing import ear as ear_module
    from edge_agent.hearing.ear import ListeningOutput

    monkeypatch.setattr(ear_module, "CALIBRATION_S", 1.0)  # a short chime: the test's time
    attempts = 2
    from edge_agent.outputs.file import FileOutput

    events: list[object] = []
    ear = Ear("loa-1", _Mic(bytes(1600)), events.append, tmp_path / "hearing.json")
    output = ListeningOutput(FileOutput(tmp_path / "out"), ear)
    ear.calibrate(output, 30, quiet=lambda s: True, attempts=attempts, retry_s=0.2)

    def calibrations() -> list:
        return [e for e in events if type(e).__name__ == "HearingCalibratedEvent"]

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(calibrations()) < attempts:
        time.sleep(0.1)
    time.sleep(1.0)  # and no more than that
    assert [c.ok for c in calibrations()] == [False] * attempts
    assert "gives no sound" in calibrations()[0].detail
    assert ear.reference_db is None
    assert len(list((tmp_path / "out").glob("*_calibration-*.wav"))) == attempts  # chimes played
