"""The microphone check wired to the output: each play's sink is wrapped so that what is
written is reduced to its envelope as it goes, while the microphone is captured from just
before the first sample to ``POST_S`` after the last; then the verdict is reported
(``playback.heard``) and the ``hearing``/``microphone`` alarms follow it.

Privacy by construction: captured audio lives only in this process's memory, one 100 ms
read at a time, and is reduced to envelopes (features.py) as it arrives; nothing is
written to disk or sent but the verdict and its figures. Nothing is captured outside a play
of the station's own or a calibration.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from protocol.messages import (
    AlarmCode,
    AlarmEvent,
    HeardVerdict,
    HearingCalibratedEvent,
    PlaybackHeardEvent,
    utcnow,
)

from ..clock import Clock, SystemClock
from ..fsutil import atomic_write
from ..outputs.base import SAMPLE_RATE, AudioOutput, PlayInfo, Sink, SinkReport
from .capture import Microphone, MicrophoneError
from .features import FRAME_S, RATE, Envelope, chime
from .verdict import Judgement, judge

log = logging.getLogger(__name__)

POST_S = 1.5  # the microphone runs on this long after the last sample (echoes, latency)
SILENT_POWER = 4.0  # a frame this quiet (rms 2 LSB) is a dead input: every real one hisses
CLIPPED_SHARE = 0.3  # this share of frames at full scale: the input is overloaded
CALIBRATION_PREFIX = "calibration-"
CALIBRATION_S = 4.0


class Listening:
    """One play being listened to: capture thread, the two envelopes, the verdict."""

    def __init__(self, ear: Ear, play: PlayInfo):
        self.ear = ear
        self.play = play
        self.played = Envelope(SAMPLE_RATE)
        self.heard = Envelope(RATE)
        self._opened_at = 0.0
        self._first_at: float | None = None
        self._stop_at: float | None = None
        self._error: str | None = None
        self._thread = threading.Thread(target=self._capture, name="hearing", daemon=True)

    def begin(self) -> None:
        self._opened_at = time.monotonic()
        self._thread.start()

    def first_sample(self, in_s: float) -> None:
        self._first_at = time.monotonic() + max(0.0, in_s)

    def end(self) -> None:
        self._stop_at = time.monotonic() + POST_S

    def _capture(self) -> None:
        try:
            capture = self.ear.microphone.open()
        except MicrophoneError as exc:
            self._error = str(exc)
        else:
            try:
                while self._stop_at is None or time.monotonic() < self._stop_at:
                    self.heard.feed(capture.read())
                    if self.heard.full:  # ten minutes at most, whatever became of the play
                        break
            except MicrophoneError as exc:
                self._error = str(exc)
            finally:
                capture.close()
        if len(self.played) or self.calibrating:  # nothing played (too late): nothing to say
            self.ear.judged(self, self._judge())

    def _judge(self) -> Judgement:
        if self._error is not None:
            return Judgement(HeardVerdict.cannot_check, detail=self._error[:300])
        frames = len(self.heard)
        if frames == 0 or max(self.heard.bands[1]) < SILENT_POWER:
            return Judgement(HeardVerdict.cannot_check, detail="the microphone gives no sound")
        if self.heard.clipped_frames >= CLIPPED_SHARE * frames:
            return Judgement(HeardVerdict.cannot_check, detail="the microphone is overloaded")
        first = self._first_at if self._first_at is not None else self._opened_at
        lag = round((first - self._opened_at) / FRAME_S)
        return judge(
            self.played,
            self.heard,
            expected_lag=lag,
            reference_gain_db=None if self.calibrating else self.ear.reference_db,
        )

    @property
    def calibrating(self) -> bool:
        return self.play.play_id.startswith(CALIBRATION_PREFIX)


class ListeningSink:
    def __init__(self, inner: Sink, listening: Listening):
        self._inner = inner
        self._listening = listening

    def start(self, at: datetime, clock: Clock) -> datetime:
        self._listening.begin()
        try:
            first = self._inner.start(at, clock)
        except BaseException:
            self._listening.end()  # the capture stops with the play that never began
            raise
        self._listening.first_sample((first - clock.now()).total_seconds())
        return first

    def write(self, pcm: bytes) -> None:
        self._listening.played.feed(pcm)
        self._inner.write(pcm)

    def close(self, *, actual_start: datetime, actual_end: datetime, interrupted: bool) -> None:
        try:
            self._inner.close(
                actual_start=actual_start, actual_end=actual_end, interrupted=interrupted
            )
        finally:
            self._listening.end()

    def report(self) -> SinkReport | None:
        return self._inner.report()


class ListeningOutput:
    """An output whose every play is listened to (``Ear.listening``)."""

    def __init__(self, inner: AudioOutput, ear: Ear):
        self.inner = inner
        self.ear = ear
        self.name = inner.name
        self.lead_s = inner.lead_s

    def open(self, play: PlayInfo) -> Sink:
        sink = self.inner.open(play)
        return ListeningSink(sink, Listening(self.ear, play))


class Ear:
    """The cluster's microphone: the calibrated level (kept in ``hearing.json``), the
    verdicts, the alarms, and the calibration chime."""

    def __init__(
        self,
        device_id: str,
        microphone: Microphone,
        emit: Callable[[Any], None],
        state_path: Path,
        clock: Clock | None = None,
    ):
        self.device_id = device_id
        self.microphone = microphone
        self._emit = emit
        self._path = state_path
        self.clock = clock or SystemClock()
        self.reference_db: float | None = None
        self.calibrated_at: str | None = None
        self._judged = threading.Event()  # a calibration's verdict came (its chime's thread waits)
        self._judged_ok = False
        self._alarms: dict[AlarmCode, bool | None] = {
            AlarmCode.hearing: None,  # None: unknown since the start (the next verdict says)
            AlarmCode.microphone: None,
        }
        try:
            saved = json.loads(state_path.read_text())
            self.reference_db = float(saved["gain_db"])
            self.calibrated_at = str(saved.get("calibrated_at") or "")
        except (OSError, ValueError, KeyError, TypeError):
            pass

    def listening(self, output: AudioOutput) -> ListeningOutput:
        return ListeningOutput(output, self)

    def _event(self, cls: type, **fields: Any) -> Any:
        return cls(event_id=uuid.uuid4().hex, device_id=self.device_id, ts=utcnow(), **fields)

    def _alarm(self, code: AlarmCode, active: bool, value: float | None, detail: str) -> None:
        if self._alarms[code] is False and not active:
            return
        self._alarms[code] = active
        self._emit(
            self._event(AlarmEvent, code=code, active=active, value=value, detail=detail[:300])
        )

    def judged(self, listening: Listening, j: Judgement) -> None:
        """A verdict came: report it (features only), keep a calibration, move the alarms."""
        log.info("heard %s: %s %s", listening.play.play_id, j.verdict.value, j.detail)
        if j.verdict == HeardVerdict.cannot_check:
            self._alarm(AlarmCode.microphone, True, None, j.detail)
        else:
            self._alarm(AlarmCode.microphone, False, None, "")
        if listening.calibrating:
            self._calibration_done(j)
            return
        self._emit(
            self._event(
                PlaybackHeardEvent,
                play_id=listening.play.play_id,
                broadcast_id=listening.play.broadcast_id,
                verdict=j.verdict,
                score=j.score,
                level_db=j.level_db,
                delay_ms=j.delay_ms,
                snr_db=j.snr_db,
                detail=j.detail[:300],
            )
        )
        if j.verdict in (HeardVerdict.not_heard, HeardVerdict.quiet, HeardVerdict.wrong):
            self._alarm(AlarmCode.hearing, True, j.level_db, j.verdict.value)
        elif j.verdict == HeardVerdict.heard:
            self._alarm(AlarmCode.hearing, False, j.level_db, "")

    def _calibration_done(self, j: Judgement) -> None:
        ok = j.verdict == HeardVerdict.heard and j.gain_db is not None
        if ok:
            self.reference_db = j.gain_db
            self.calibrated_at = utcnow().isoformat()
            atomic_write(
                self._path,
                json.dumps({"gain_db": j.gain_db, "calibrated_at": self.calibrated_at}).encode(),
            )
        self._judged_ok = ok
        self._judged.set()
        detail = "" if ok else (j.detail or f"the chime was not heard ({j.verdict.value})")
        self._emit(
            self._event(
                HearingCalibratedEvent,
                ok=ok,
                gain_db=j.gain_db,
                snr_db=j.snr_db,
                detail=detail[:300],
            )
        )

    def calibrate(
        self,
        output: ListeningOutput,
        volume: int,
        quiet: Callable[[float], bool],
        prepare: Callable[[str], None] = lambda play_id: None,
        done: Callable[[str], None] = lambda play_id: None,
        give_up_s: float = 600.0,
        attempts: int = 1,
        retry_s: float = 300.0,
    ) -> None:
        """Play the chime at ``volume`` % once nothing plays or is due for a while (within
        ``give_up_s``); its verdict becomes the usual level. A chime not heard (a lorry
        passing, a busy pole) is tried again ``retry_s`` later, ``attempts`` times in all,
        until the cluster has a usual level. Runs in its own thread."""

        def run() -> None:
            for attempt in range(attempts):
                if attempt:
                    time.sleep(retry_s)
                    if self.reference_db is not None:
                        return  # calibrated meanwhile (a technician's command)
                    log.info("calibration tried again (%d of %d)", attempt + 1, attempts)
                played = chime_once()
                if played is None:
                    return
                if played and self._judged.wait(POST_S + 60) and self._judged_ok:
                    return

        def chime_once() -> bool | None:
            """Plays the chime: True if it did, False if the output failed, None if it never
            fell quiet."""
            deadline = time.monotonic() + give_up_s
            while not quiet(CALIBRATION_S + 10):
                if time.monotonic() > deadline:
                    log.warning("calibration given up: the output never fell quiet")
                    return None
                time.sleep(1.0)
            play_id = CALIBRATION_PREFIX + uuid.uuid4().hex[:12]
            self._judged.clear()
            prepare(play_id)  # the amplifiers on (the cluster's lead)
            info = PlayInfo(play_id, play_id, "Hiệu chuẩn micro", utcnow())
            pcm = chime(SAMPLE_RATE, CALIBRATION_S, amplitude=volume / 100)
            try:
                sink = output.open(info)
                start = self.clock.now() + timedelta(seconds=output.lead_s + 0.05)
                first = sink.start(start, self.clock)
                step = SAMPLE_RATE // 5 * 2
                for at in range(0, len(pcm), step):
                    sink.write(pcm[at : at + step])
                sink.close(actual_start=first, actual_end=self.clock.now(), interrupted=False)
            except OSError as exc:
                self._emit(
                    self._event(HearingCalibratedEvent, ok=False, detail=f"output: {exc}"[:300])
                )
                return False
            finally:
                done(play_id)
            return True

        threading.Thread(target=run, name="calibration", daemon=True).start()
