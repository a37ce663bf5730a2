"""ALSA output that starts on the device's own timeline: libasound through ctypes.

The sink is opened ``lead_s`` before the start, primed with silence, and the first sample of
the play is placed by the device's own delay (``snd_pcm_delay``: the frames between the next
sample written and the DAC, the sound server's latency included when the device is a plugin)
so that it leaves the DAC at the start instant; each later write measures the delay again
and lets ``timeline.DriftGuard`` insert or drop single samples so a crystal that runs fast
or slow, an underrun or a clock step does not carry the loudspeaker away from its
neighbours. ``aplay`` in a pipe cannot do this: its buffer and start-up are out of sight.

Why ctypes and not a binding from PyPI: pyalsaaudio exposes ``avail`` but not
``snd_pcm_delay`` (the plugin's latency would be missed) and compiles against
libasound2-dev on the Pi; sounddevice needs PortAudio and a callback thread. Eleven
functions of libasound2, which every Pi with sound already has, cost no install at all.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import threading
import time
from datetime import datetime, timedelta

from ..clock import Clock
from .base import SAMPLE_RATE, SAMPLE_WIDTH, PlayInfo, SinkReport
from .timeline import DriftGuard, heard_at, lead_in_frames

STREAM_PLAYBACK = 0
STATE_RUNNING = 3
FORMAT_S16_LE = 2
ACCESS_RW_INTERLEAVED = 3
BUFFER_US = 100_000  # the device's buffer: STOP is heard within it
PRIME_FRAMES = SAMPLE_RATE // 100  # silence is written 10 ms at a time until the start
# the last lead-in is written in one go from this far out: where the first sample lands is
# set by the frames queued, not by when a write returns (a plugin wakes a writer in periods
# of 25 ms or more, later still on a loaded Pi)
PLACE_FRAMES = SAMPLE_RATE // 20
SETTLE_S = 0.1  # the delay a plugin reports is trusted once it has run this long

_lib: ctypes.CDLL | None = None
_lib_lock = threading.Lock()


class AlsaError(OSError):
    """A libasound call failed; the message is ALSA's own (``snd_strerror``)."""


def _libasound() -> ctypes.CDLL:
    global _lib
    with _lib_lock:
        if _lib is None:
            name = ctypes.util.find_library("asound") or "libasound.so.2"
            try:
                lib = ctypes.CDLL(name)
            except OSError as exc:
                raise AlsaError(f"libasound2 is not installed ({exc})") from None
            lib.snd_strerror.restype = ctypes.c_char_p
            lib.snd_strerror.argtypes = [ctypes.c_int]
            lib.snd_pcm_open.argtypes = [
                ctypes.POINTER(ctypes.c_void_p),
                ctypes.c_char_p,
                ctypes.c_int,
                ctypes.c_int,
            ]
            lib.snd_pcm_set_params.argtypes = [
                ctypes.c_void_p,
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_uint,
                ctypes.c_uint,
                ctypes.c_int,
                ctypes.c_uint,
            ]
            lib.snd_pcm_writei.restype = ctypes.c_long
            lib.snd_pcm_writei.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_ulong]
            lib.snd_pcm_delay.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_long)]
            lib.snd_pcm_recover.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
            lib.snd_pcm_state.argtypes = [ctypes.c_void_p]
            for fn in ("snd_pcm_drop", "snd_pcm_drain", "snd_pcm_close", "snd_pcm_prepare"):
                getattr(lib, fn).argtypes = [ctypes.c_void_p]
            _lib = lib
        return _lib


class Pcm:
    """One open ALSA playback device: 16-bit mono at ``SAMPLE_RATE``, blocking writes."""

    def __init__(self, device: str, buffer_us: int = BUFFER_US):
        self._lib = _libasound()
        self.device = device
        self._handle = ctypes.c_void_p()
        self._check(
            self._lib.snd_pcm_open(ctypes.byref(self._handle), device.encode(), STREAM_PLAYBACK, 0),
            "open",
        )
        try:
            self._check(
                self._lib.snd_pcm_set_params(
                    self._handle, FORMAT_S16_LE, ACCESS_RW_INTERLEAVED, 1, SAMPLE_RATE, 1, buffer_us
                ),
                "configure",
            )
        except AlsaError:
            self._lib.snd_pcm_close(self._handle)
            raise
        self.underruns = 0
        self.recovered_at = 0.0  # monotonic time of the last underrun's recovery

    def _check(self, rc: int, what: str) -> None:
        if rc < 0:
            reason = self._lib.snd_strerror(rc).decode(errors="replace")
            raise AlsaError(-rc, f"ALSA device {self.device!r}: cannot {what}: {reason}")

    def running(self) -> bool:
        return self._lib.snd_pcm_state(self._handle) == STATE_RUNNING

    def steady(self) -> bool:
        """Running, and long enough since an underrun that its delay can be trusted (a
        plugin reports its latency again only once it plays)."""
        return self.running() and time.monotonic() - self.recovered_at >= SETTLE_S

    def delay(self) -> int | None:
        """Frames between the next sample written and the DAC; None when not running."""
        frames = ctypes.c_long()
        if self._lib.snd_pcm_delay(self._handle, ctypes.byref(frames)) < 0:
            return None
        return max(0, frames.value)

    def write(self, pcm: bytes) -> None:
        """Write all of ``pcm`` (blocks at the device's pace); an underrun is recovered."""
        view = memoryview(pcm)
        while view:
            frames = len(view) // SAMPLE_WIDTH
            n = self._lib.snd_pcm_writei(self._handle, view.tobytes(), frames)
            if n == -errno.EAGAIN or n == -errno.EINTR:
                continue
            if n < 0:
                if n == -errno.EPIPE:
                    self.underruns += 1
                self._check(self._lib.snd_pcm_recover(self._handle, int(n), 1), "recover")
                self.recovered_at = time.monotonic()
                continue
            view = view[n * SAMPLE_WIDTH :]

    def drop(self) -> None:
        self._lib.snd_pcm_drop(self._handle)

    def drain(self) -> None:
        self._lib.snd_pcm_drain(self._handle)

    def close(self) -> None:
        if self._handle:
            self._lib.snd_pcm_close(self._handle)
            self._handle = ctypes.c_void_p()


class AlsaSink:
    def __init__(self, device: str):
        self._pcm = Pcm(device)
        self._clock: Clock | None = None
        self._start = 0.0  # where the first sample leaves the device, on the clock (s)
        self._consumed = 0  # frames of the play written or dropped since the start
        self._skip = 0  # frames of the play still to drop (a late device catching up)
        self._guard = DriftGuard(SAMPLE_RATE)
        self._unplaced: list[str] = []

    def _now(self) -> float:
        assert self._clock is not None
        return self._clock.now().timestamp()

    def start(self, at: datetime, clock: Clock) -> datetime:
        self._clock = clock
        target = at.timestamp()
        silence = bytes(PRIME_FRAMES * SAMPLE_WIDTH)
        running_since: float | None = None
        while True:
            delay = self._pcm.delay()
            now = self._now()
            if running_since is None and self._pcm.running():
                running_since = now
            # a plugin adds its own latency only once the stream runs: trust it after a while
            settled = running_since is not None and now - running_since >= SETTLE_S
            gap = lead_in_frames(target, now, delay or 0, SAMPLE_RATE)
            if settled and gap <= PLACE_FRAMES:
                break
            if not settled and gap <= PRIME_FRAMES:
                break  # no time left to let the device settle: place by what it says now
            self._pcm.write(silence)
        if gap > 0:
            self._pcm.write(bytes(gap * SAMPLE_WIDTH))
            self._start = target
        else:  # too late for ``at``: the next sample leaves as soon as the device can play it
            self._start = heard_at(now, delay or 0, SAMPLE_RATE)
            if gap < -SAMPLE_RATE // 100:
                self._unplaced.append(f"started {-gap * 1000 // SAMPLE_RATE} ms late")
        return at + timedelta(seconds=self._start - target)

    def write(self, pcm: bytes) -> None:
        delay = self._pcm.delay() if self._pcm.steady() else None
        if delay is not None:
            ideal = self._start + self._consumed / SAMPLE_RATE
            step = self._guard.step(heard_at(self._now(), delay, SAMPLE_RATE) - ideal)
        else:  # restarting after an underrun: judged again once it plays steadily
            step = 0
        if step < 0:  # late: skip ahead on the play's own audio, over as many writes as it takes
            self._skip -= step
            self._consumed -= step  # the timeline moves on now, the frames go as they come
        drop = min(self._skip, len(pcm) // SAMPLE_WIDTH)
        self._skip -= drop
        pcm = pcm[drop * SAMPLE_WIDTH :]
        if step > 0 and pcm:  # early: hold the first sample a little longer
            pcm = pcm[:SAMPLE_WIDTH] * step + pcm
            self._consumed -= step  # those frames were not the play's own
        self._consumed += len(pcm) // SAMPLE_WIDTH
        self._pcm.write(pcm)

    def close(self, *, actual_start: datetime, actual_end: datetime, interrupted: bool) -> None:
        try:
            if interrupted:
                self._pcm.drop()  # silence now: STOP or a higher priority
            else:
                self._pcm.drain()
        finally:
            self._pcm.close()

    def report(self) -> SinkReport:
        stats = self._guard.stats
        problems = list(self._unplaced)
        if self._pcm.underruns:
            problems.append(f"{self._pcm.underruns} underrun(s): the sound card ran dry")
        if stats.rejoins:
            problems.append(f"rejoined the timeline {stats.rejoins} time(s)")
        if stats.unpaced:
            problems.append("the device plays faster than real time (not a sound card?)")
        return SinkReport(
            underruns=self._pcm.underruns,
            rejoins=stats.rejoins,
            corrected_ms=(stats.inserted_frames + stats.dropped_frames) * 1000 / SAMPLE_RATE,
            max_error_ms=stats.max_error_s * 1000,
            problems=problems,
        )


class AlsaOutput:
    name = "alsa"
    lead_s = 0.5  # open and prime the device this long before the start

    def __init__(self, device: str = "default"):
        self.device = device

    def open(self, play: PlayInfo) -> AlsaSink:
        return AlsaSink(self.device)
