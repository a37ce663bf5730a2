"""Plays at the right instant, one play at a time per output, higher priority first.

Timing and arbitration only: each scheduled play has a thread that asks its ``Sources`` to
prepare the audio (fetch, check, decode ahead), waits on the injected ``Clock`` for the exact
``start_at``, takes the output (preempting a lower priority, waiting for an equal or higher
one), and streams PCM to the sink. Everything it does is reported through ``emit``.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from protocol.messages import (
    AlarmCode,
    AlarmEvent,
    MediaReadyEvent,
    PlaybackFailedEvent,
    PlaybackFinishedEvent,
    PlaybackStartedEvent,
    PlayCommand,
    Priority,
    SecurityEvent,
)

from .clock import Clock, SystemClock
from .cluster import Cluster
from .household import Household
from .outputs.base import BYTES_PER_SECOND, AudioOutput, PlayInfo, Sink, SinkReport
from .resume import preempted_by, resume_until
from .sources import Source, SourceFailed, Sources, pcm_bytes

log = logging.getLogger(__name__)

CHUNK_BYTES = BYTES_PER_SECOND // 10  # 100 ms: few wake-ups on a Pi, STOP still prompt
PREROLL_BYTES = BYTES_PER_SECOND // 5  # 200 ms decoded before the start instant
ARBITRATION_POLL_S = 0.05
DEAD_AIR_ALARM_S = 10  # a stream's dead air that raises the alarm when it names no threshold


@dataclass
class _Play:
    cmd: PlayCommand
    not_after: datetime
    cancelled: threading.Event = field(default_factory=threading.Event)
    interrupt: threading.Event = field(default_factory=threading.Event)
    interrupted_by: str | None = None
    ended: bool = False  # stopped because it is over (a live broadcast's end), not cut
    clock_source: str = "free"  # which clock the start was placed on (see _placement)
    clock_applied_s: float = 0.0  # the SNTP offset the start was placed by ("offset")
    cut: bool = False  # the last run was interrupted (by whatever interrupted_by says)
    resumed_after: str | None = None  # back after this higher priority (resume.py)
    resumes: int = 0


class Player:
    def __init__(
        self,
        device_id: str,
        output: AudioOutput,
        sources: Sources,
        emit: Callable[[Any], None],
        clock: Clock | None = None,
        cluster: Cluster | None = None,
        software_volume: Callable[[], int] = lambda: 100,
        household: Household | None = None,
        on_over: Callable[[str], None] = lambda play_id: None,
        clock_offset_ms: Callable[[], float | None] = lambda: None,
        clock_correction: Callable[[], tuple[float, str]] = lambda: (0.0, "free"),
    ):
        self.device_id = device_id
        self._clock_offset_ms = clock_offset_ms  # the last reading (timesync), for reports
        # seconds to take off true times to get this clock's, and which clock that follows
        self._clock_correction = clock_correction
        self._output_alarm = False
        self._last_play_troubled = False
        self.output = output
        self.sources = sources
        self.clock: Clock = clock or SystemClock()
        self.cluster = cluster
        self._software_volume = software_volume
        self.household = household  # a home receiver: its knob and switch
        self._on_over = on_over
        self._emit = emit
        self._plays: dict[str, _Play] = {}
        self._lock = threading.Condition()
        self._current: _Play | None = None
        self._stopping = threading.Event()

    # --- public ---------------------------------------------------------------------------

    def schedule(self, cmd: PlayCommand, not_after: datetime) -> None:
        play = _Play(cmd, not_after)
        with self._lock:
            self._plays[cmd.play_id] = play
        threading.Thread(
            target=self._run, args=(play,), name=f"play-{cmd.play_id[:12]}", daemon=True
        ).start()

    def has(self, play_id: str) -> bool:
        """Whether the play is scheduled or playing in this process."""
        with self._lock:
            return play_id in self._plays

    def cancel_pending(self, play_id: str) -> None:
        """Drop a play that has not started (a plan no longer has it); leave it if playing."""
        with self._lock:
            play = self._plays.get(play_id)
            if play is None or self._current is play:
                return
        play.interrupted_by = "plan"
        play.cancelled.set()

    def cancel(self, play_id: str) -> None:
        with self._lock:
            play = self._plays.get(play_id)
        if play is not None:
            play.interrupted_by = "cancel"
            play.cancelled.set()
            play.interrupt.set()

    def end(self, play_id: str) -> None:
        """The play is over as planned (a live broadcast ended): stop it, report it finished."""
        with self._lock:
            play = self._plays.get(play_id)
        if play is not None:
            play.ended = True
            play.cancelled.set()
            play.interrupt.set()

    def stop_now(self, reason: str = "stop") -> None:
        """Silence the device (signed STOP): what plays now and what was about to start.

        Plays due later (a bulletin at 17:00) stay scheduled: STOP is about this moment.
        """
        now = self.clock.now()
        with self._lock:
            due = [p for p in self._plays.values() if p is self._current or p.cmd.start_at <= now]
        for play in due:
            play.interrupted_by = reason
            play.cancelled.set()
            play.interrupt.set()

    def media_in_use(self) -> set[str]:
        with self._lock:
            plays = list(self._plays.values())
        return {p.cmd.media.sha256 for p in plays if p.cmd.media} | {
            p.cmd.stream.fallback_media.sha256
            for p in plays
            if p.cmd.stream is not None and p.cmd.stream.fallback_media is not None
        }

    def shutdown(self) -> None:
        self._stopping.set()
        with self._lock:
            plays = list(self._plays.values())
        for play in plays:
            play.interrupted_by = "shutdown"
            play.cancelled.set()
            play.interrupt.set()

    def quiet(self, within_s: float) -> bool:
        """Nothing plays now and nothing is due within ``within_s`` (an update may restart)."""
        soon = self.clock.now() + timedelta(seconds=within_s)
        with self._lock:
            return self._current is None and all(
                p.cmd.start_at > soon for p in self._plays.values()
            )

    def active_play_ids(self) -> list[str]:
        with self._lock:
            return list(self._plays)

    # --- one play -------------------------------------------------------------------------

    def _event(self, cls: type, **fields: Any) -> Any:
        return cls(
            event_id=uuid.uuid4().hex, device_id=self.device_id, ts=self.clock.now(), **fields
        )

    def _fail(self, play: _Play, reason: str, detail: str = "") -> None:
        self._emit(
            self._event(
                PlaybackFailedEvent,
                play_id=play.cmd.play_id,
                broadcast_id=play.cmd.broadcast_id,
                reason=reason,
                detail=detail[:300],
            )
        )

    def _run(self, play: _Play) -> None:
        try:
            self._run_play(play)
        except Exception as exc:  # never die silently: the controller must learn why
            log.exception("play %s failed", play.cmd.play_id)
            self._fail(play, "agent_error", f"{type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._plays.pop(play.cmd.play_id, None)
            if not self._stopping.is_set():  # a shutdown is not the end of the play
                self._on_over(play.cmd.play_id)

    def _emergency_level(self, cmd: PlayCommand) -> int | None:
        """An emergency plays at the station's emergency volume (the command's) whatever the
        device's own volume was turned down to."""
        return cmd.volume if cmd.priority == Priority.emergency else None

    @property
    def _hardware_volume(self) -> bool:
        return self.cluster is not None and self.cluster.hardware_volume

    def _board_level(self, cmd: PlayCommand) -> int | None:
        """The volume a board with hardware volume is set to for this play (else None)."""
        if self.household is not None:
            return None
        return self._emergency_level(cmd) if self._hardware_volume else None

    def _volume(self, cmd: PlayCommand) -> int | None:
        """The gain applied in software: the play's volume times the device's (unless the
        board sets it in hardware: then an emergency's level goes to the board instead); on
        a home receiver, on its indoor scale with the household's knob."""
        if self.household is not None:
            level = self.household.level(cmd, self._software_volume())
            return None if level == 100 else level
        if (level := self._emergency_level(cmd)) is not None:
            return None if self._hardware_volume or level == 100 else level
        level = round((100 if cmd.volume is None else cmd.volume) * self._software_volume() / 100)
        return None if level == 100 else level

    def _run_play(self, play: _Play) -> None:
        try:
            self._prepare_and_play(play)
        finally:
            if self.cluster:
                self.cluster.release(play.cmd.play_id)

    def _placement(self, play: _Play) -> datetime:
        """The start on this device's own clock: ``start_at`` itself when chrony or
        timesyncd discipline the clock, ``start_at − θ`` when only the agent's own SNTP
        reading says how far off it is (θ = true time − this clock)."""
        applied_s, play.clock_source = self._clock_correction()
        play.clock_applied_s = applied_s
        return play.cmd.start_at - timedelta(seconds=applied_s)

    def _prepare_and_play(self, play: _Play) -> None:
        cmd = play.cmd
        start = self._placement(play)
        try:
            prepared = self.sources.prepare(cmd, deadline_ts=play.not_after.timestamp())
        except SourceFailed as exc:
            if exc.security:
                self._emit(
                    self._event(
                        SecurityEvent,
                        reason=exc.reason,
                        detail=exc.detail[:300],
                        play_id=cmd.play_id,
                    )
                )
            self._fail(play, exc.reason, exc.detail)
            return
        if cmd.media is not None:
            self._emit(
                self._event(
                    MediaReadyEvent,
                    play_id=cmd.play_id,
                    sha256=cmd.media.sha256,
                    fetched_bytes=prepared.fetched_bytes or 0,
                )
            )
        ahead = timedelta(seconds=prepared.ahead_s)
        lead = timedelta(seconds=self.cluster.lead_s if self.cluster else 0.0)
        if self.clock.wait_until(start - max(lead, ahead), play.cancelled):
            return
        if self.cluster:
            self.cluster.warm_up(cmd.play_id, self._board_level(cmd))
        # the source opens first, then the output lead_s before the start (a sound card primes)
        if self.clock.wait_until(
            start - max(ahead, timedelta(seconds=self.output.lead_s + 0.05)), play.cancelled
        ):
            return
        if self.clock.now() > play.not_after:
            self._fail(play, "too_late", "media or command arrived after the play window")
            return
        if self.household is not None and not self.household.admits(cmd):
            self._fail(play, "household_off", "the household switched the receiver off")
            return
        offset_s = self._late_s(cmd, start)
        if cmd.media is not None and offset_s * 1000 >= cmd.media.duration_ms:
            self._fail(
                play,
                "too_late",
                f"ready {offset_s:.1f} s after the start: the bulletin was already over",
            )
            return
        while True:
            source = self.sources.open(cmd, prepared, self._volume(cmd), offset_s)
            try:
                preroll = b"" if cmd.stream is not None else _read_exact(source, PREROLL_BYTES)
                if cmd.stream is None and not preroll:
                    self._fail(
                        play,
                        "too_late" if offset_s else "decode_failed",
                        "the bulletin was already over" if offset_s else source.error(),
                    )
                    return
                self._play_when_due(play, start, source, preroll, offset_s)
            finally:
                source.close()
            if not self._resume(play):
                return
            offset_s = 0.0  # a bulletin replays from its start; a stream rejoins live

    def _resume(self, play: _Play) -> bool:
        """Whether a play cut by a higher priority comes back once that play is over
        (resume.py says until when); readies it to wait for the output again."""
        by = preempted_by(play.interrupted_by) if play.cut else None
        if by is None or play.cancelled.is_set() or self._stopping.is_set():
            return False
        until = resume_until(play.cmd, play.not_after)
        if self.clock.now() >= until:
            return False
        play.resumed_after = play.interrupted_by
        play.resumes += 1
        play.interrupted_by, play.cut, play.not_after = None, False, until
        play.interrupt.clear()
        return True

    def _late_s(self, cmd: PlayCommand, start: datetime) -> float:
        """How far past ``start_at`` stored media is opened: the offset a late play joins
        at, in step with the loudspeakers that started on time (0 when on time; a live
        stream has no offset)."""
        if cmd.stream is not None:
            return 0.0
        return max(0.0, (self.clock.now() - start).total_seconds())

    def _play_when_due(
        self, play: _Play, start: datetime, source: Source, preroll: bytes, offset_s: float
    ) -> None:
        """Take the output ``lead_s`` before the start (a sound card is opened and primed in
        that time), place the first sample at the start, and play."""
        cmd = play.cmd
        if self.clock.wait_until(start - timedelta(seconds=self.output.lead_s), play.cancelled):
            return
        if not self._take_output(play):
            if play.resumed_after:  # already reported interrupted: it just does not come back
                return
            if play.cancelled.is_set():
                self._fail(play, "cancelled", play.interrupted_by or "")
            else:
                self._fail(
                    play, "output_busy", "a play of equal or higher priority held the output"
                )
            return
        try:
            try:
                sink = self.output.open(
                    PlayInfo(cmd.play_id, cmd.broadcast_id, cmd.title, cmd.start_at, play.resumes)
                )
            except OSError as exc:  # no sound card, device busy or gone
                self._fail(play, "output_error", str(exc))
                self._set_output_alarm([f"cannot open the sound card: {exc}"])
                return
            first = sink.start(start, self.clock)  # when the first sample leaves the device
            source.align(first, play.clock_applied_s)  # a live stream reads by it
            joined_late_ms = None
            if offset_s > 0:  # also skip what passed while the source and device opened
                lag_s = max(0.0, (first - start).total_seconds() - offset_s)
                preroll = _skip(source, preroll, pcm_bytes(lag_s))
                if not preroll:
                    sink.close(actual_start=first, actual_end=first, interrupted=True)
                    self._fail(play, "too_late", "the bulletin was already over")
                    return
                joined_late_ms = round((offset_s + lag_s) * 1000)
            self._play_stream(play, sink, first, source, preroll, joined_late_ms)
        finally:
            self._release_output(play)

    def _play_stream(
        self,
        play: _Play,
        sink: Sink,
        actual_start: datetime,
        source: Source,
        preroll: bytes,
        joined_late_ms: int | None = None,
    ) -> None:
        cmd = play.cmd
        if self.cluster:
            self.cluster.started(cmd.play_id)
        self._emit(
            self._event(
                PlaybackStartedEvent,
                play_id=cmd.play_id,
                broadcast_id=cmd.broadcast_id,
                scheduled_start=cmd.start_at,
                actual_start=actual_start,
                joined_late_ms=joined_late_ms,
                clock_offset_ms=self._clock_offset_ms(),
                clock_source=play.clock_source,
                resumed_after=play.resumed_after,
            )
        )
        written = 0
        buffered = preroll
        error: str | None = None
        try:
            while not play.interrupt.is_set():
                if not buffered:
                    buffered = source.read(CHUNK_BYTES)
                    if not buffered:
                        break
                chunk, buffered = buffered[:CHUNK_BYTES], buffered[CHUNK_BYTES:]
                sink.write(chunk)
                written += len(chunk)
        except OSError as exc:
            error = str(exc)
        actual_end = self.clock.now()
        interrupted = play.interrupt.is_set() and not play.ended
        play.cut = interrupted
        sink.close(actual_start=actual_start, actual_end=actual_end, interrupted=interrupted)
        line_check = self.cluster.ended(cmd.play_id) if self.cluster else None
        timing = sink.report()
        if timing is not None:
            self._judge_output(timing)
        if error:
            self._fail(play, "output_error", error)
            return
        outcome = source.outcome(written)
        if outcome.failure is not None and not interrupted:  # stopped while it connected:
            self._fail(play, *outcome.failure)  # the station ended it, nothing was lost
            return
        self._emit(
            self._event(
                PlaybackFinishedEvent,
                play_id=cmd.play_id,
                broadcast_id=cmd.broadcast_id,
                scheduled_start=cmd.start_at,
                actual_start=actual_start,
                actual_end=actual_end,
                interrupted=interrupted,
                interrupted_by=play.interrupted_by if interrupted else None,
                played_ms=round(written * 1000 / BYTES_PER_SECOND),
                line_check=line_check,
                joined_late_ms=joined_late_ms,
                resumed_after=play.resumed_after,
                **outcome.extra,
                **(timing.extra() if timing is not None else {}),
            )
        )
        if cmd.stream is not None:
            self._dead_air_alarm(cmd, outcome.extra)

    def _judge_output(self, timing: SinkReport) -> None:
        """One underrun or jump back onto the timeline is in the play's report only (a
        moment of load); two plays in a row with trouble, or three in one, raise the alarm."""
        troubled = bool(timing.problems)
        persists = troubled and (self._last_play_troubled or timing.underruns + timing.rejoins >= 3)
        self._last_play_troubled = troubled
        if persists or not troubled:
            self._set_output_alarm(timing.problems if persists else [])

    def _set_output_alarm(self, problems: list[str]) -> None:
        """The ``audio_output`` alarm: raised with the sound card's problems in words (it
        could not be opened, ran dry, had to jump back onto the timeline), cleared by the
        next clean play; a healthy card sends nothing, a troubled one each time (counted)."""
        active = bool(problems)
        if active == self._output_alarm and not active:
            return
        self._output_alarm = active
        self._emit(
            self._event(
                AlarmEvent,
                code=AlarmCode.audio_output,
                active=active,
                detail="; ".join(problems)[:300],
            )
        )

    def _dead_air_alarm(self, cmd: PlayCommand, extra: dict[str, Any]) -> None:
        """A relay or live stream that was silent longer than its threshold raises the
        ``dead_air`` alarm (a technician sees which stream); a clean one clears it."""
        assert cmd.stream is not None
        limit_ms = (cmd.stream.silence_s or DEAD_AIR_ALARM_S) * 1000
        dead_ms = int(extra.get("dead_air_ms") or 0)
        switches = int(extra.get("silence_switches") or 0)
        active = dead_ms >= limit_ms or switches > 0
        detail = (
            f"{cmd.title or cmd.play_id}: {dead_ms / 1000:.0f} s of dead air, "
            f"{switches} switch(es) away from a silent stream ({cmd.stream.url})"
        )
        self._emit(
            self._event(
                AlarmEvent,
                code=AlarmCode.dead_air,
                active=active,
                value=round(dead_ms / 1000, 1),
                detail=detail[:300],
            )
        )

    # --- arbitration ----------------------------------------------------------------------

    def _take_output(self, play: _Play) -> bool:
        """Own the output; preempt a lower priority; wait for an equal or higher one (and a
        play coming back after a preemption waits for its preemptor to be over)."""
        with self._lock:
            while True:
                if play.cancelled.is_set():
                    return False
                current = self._current
                if current is None:
                    back_after = preempted_by(play.resumed_after)
                    if not (back_after and back_after in self._plays):
                        self._current = play
                        return True
                elif play.cmd.priority.rank > current.cmd.priority.rank:
                    current.interrupted_by = f"{play.cmd.priority.value}:{play.cmd.play_id}"
                    current.interrupt.set()
                    self._lock.wait(ARBITRATION_POLL_S)
                    continue
                if self.clock.now() > play.not_after:
                    return False
                self._lock.wait(ARBITRATION_POLL_S)

    def _release_output(self, play: _Play) -> None:
        with self._lock:
            if self._current is play:
                self._current = None
            self._lock.notify_all()


def _skip(source: Source, preroll: bytes, size: int) -> bytes:
    """Drop ``size`` bytes from the front of what ``preroll`` then ``source`` hold; returns
    the preroll left (refilled if it ran out, empty at the end of the audio)."""
    if size < len(preroll):
        return preroll[size:]
    size -= len(preroll)
    while size > 0:
        dropped = source.read(min(size, CHUNK_BYTES * 10))
        if not dropped:
            return b""
        size -= len(dropped)
    return _read_exact(source, PREROLL_BYTES)


def _read_exact(stream: Source, size: int) -> bytes:
    parts = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)
