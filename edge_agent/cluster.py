"""The cluster around the player: amplifier power sequencing, speaker-line checks, alarms.

One thread talks to the board. Plays ask for the amplifiers a lead time before they start
(``warm_up``) and let go when they end; the amplifiers go off ``hold_s`` after the last play,
so back-to-back items do not click the relays. While a play runs its speaker lines are
measured once (proof of play); readings are polled for the health report and turned into
alarms (mains lost, battery low, door, temperature, dead line, board unreachable).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from protocol.messages import AlarmCode, AlarmEvent, HardwareReadings, LineCheck, utcnow

from .alarms import (
    AlarmTracker,
    Condition,
    Thresholds,
    board_conditions,
    dead_channels,
    disk_conditions,
    line_conditions,
)
from .fsutil import atomic_write, read_json
from .hardware.base import BoardNotice, ClusterBoard, HardwareError

log = logging.getLogger(__name__)


class Cluster:
    def __init__(
        self,
        board: ClusterBoard,
        device_id: str,
        emit: Callable[[Any], None],
        alarms_path: Path,
        lead_s: float = 2.0,
        hold_s: float = 5.0,
        poll_s: float = 30.0,
        line_check_after_s: float = 1.0,
        thresholds: Thresholds | None = None,
        unreachable_after_s: float = 5.0,
        channel_gap_s: float = 0.0,
    ):
        self.board = board
        self.channel_gap_s = channel_gap_s  # channels switch one by one, this far apart
        self.device_id = device_id
        self.lead_s = lead_s if board.name != "none" else 0.0
        self.hold_s = hold_s
        self.poll_s = poll_s
        self.line_check_after_s = line_check_after_s
        self.thresholds = thresholds or Thresholds()
        self.unreachable_after_s = unreachable_after_s  # a glitch is not yet an alarm
        self._unreachable_since: float | None = None
        self._emit = emit
        self._alarms_path = alarms_path
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._holders: set[str] = set()
        self._want_on = False
        self._applied_on: bool | None = None  # None: unknown (start, board rebooted)
        self._off_at: float | None = None
        self._volume: int | None = None  # the device's own volume
        self._play_volume: dict[str, int] = {}  # plays that set it for their time (emergency)
        self._applied_volume: int | None = None
        self._playing: dict[str, float] = {}  # play id -> monotonic time its audio began
        self._checks: dict[str, LineCheck | None] = {}
        self._poll_now = True
        self._readings: HardwareReadings | None = None
        self.last_line_check: LineCheck | None = None
        stored = read_json(alarms_path, {}) or {}
        self._tracker = AlarmTracker(
            {
                key: Condition(
                    AlarmCode(c["code"]), c.get("channel"), c.get("value"), c.get("detail", "")
                )
                for key, c in stored.items()
                if c.get("code") in AlarmCode.__members__
            }
        )
        self._thread = threading.Thread(target=self._run, name="cluster", daemon=True)

    @property
    def present(self) -> bool:
        return self.board.name != "none"

    def start(self) -> None:
        if not self.present:
            return
        self.board.start(self._on_notice)
        self._thread.start()

    def stop(self, power_off: bool = True) -> None:
        if not self.present:
            return
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        if power_off and self._applied_on is not False:
            try:
                self.board.set_amplifiers(False, self.channel_gap_s)
            except HardwareError:
                pass
        self.board.stop()

    # --- what the player calls ---------------------------------------------------------------

    @property
    def hardware_volume(self) -> bool:
        """The board sets the volume in the amplifier: the samples stay at full scale."""
        return self.board.hardware_volume

    def warm_up(self, play_id: str, volume: int | None = None) -> None:
        """A play starts in ``lead_s``: power the amplifiers (without blocking the player);
        ``volume`` sets the board's volume for the play's time (an emergency's)."""
        if not self.present:
            return
        with self._lock:
            self._holders.add(play_id)
            if volume is not None and self.board.hardware_volume:
                self._play_volume[play_id] = volume
            self._want_on = True
            self._off_at = None
        self._wake.set()

    def started(self, play_id: str) -> None:
        """Audio is flowing: measure the lines after ``line_check_after_s``."""
        if not self.present:
            return
        with self._lock:
            self._playing[play_id] = time.monotonic()
        self._wake.set()

    def ended(self, play_id: str) -> LineCheck | None:
        """Audio stopped: the play's line check (taken now if the play was too short)."""
        if not self.present:
            return None
        with self._lock:
            self._playing.pop(play_id, None)
            measured = play_id in self._checks
            check = self._checks.pop(play_id, None)
        if not measured and self.board.senses_lines:
            check = self._line_check()  # the amplifiers are still on: the hold keeps them
        self.release(play_id)
        return check

    def release(self, play_id: str) -> None:
        """The play no longer needs the amplifiers (ended, cancelled, failed)."""
        if not self.present:
            return
        with self._lock:
            self._holders.discard(play_id)
            self._play_volume.pop(play_id, None)  # back to the device's own volume
            if not self._holders and self._want_on and self._off_at is None:
                self._off_at = time.monotonic() + self.hold_s
        self._wake.set()

    def set_volume(self, level: int) -> bool:
        """Hardware volume, where the board has it; False means: scale in software."""
        if not self.board.hardware_volume:
            return False
        with self._lock:
            self._volume = level
        self._wake.set()
        return True

    def _wanted_volume(self) -> int | None:  # under the lock
        """What the board should be set to: a play's own volume while it holds the
        amplifiers (the loudest, if several), else the device's."""
        return max(self._play_volume.values(), default=self._volume)

    def listen_fm(self, on: bool, freq_mhz: float) -> bool:
        """Amplifiers from the board's FM tuner (a relay with no stream left), or back to the
        Pi's audio; False when the board cannot."""
        if not self.present:
            return False
        try:
            self.board.listen_fm(round(freq_mhz * 100) if on else None)
        except HardwareError as exc:
            log.warning("FM %s failed: %s", "fallback" if on else "release", exc)
            return False
        log.warning(
            "relay: %s",
            f"FM {freq_mhz:.1f} MHz on the amplifiers" if on else "streams back; FM off",
        )
        return True

    def readings(self) -> HardwareReadings | None:
        with self._lock:
            return self._readings

    # --- the board thread ----------------------------------------------------------------------

    def _on_notice(self, notice: BoardNotice) -> None:
        if notice.kind == "line_fault" and notice.channel is not None:
            key = f"{AlarmCode.speaker_line.value}:{notice.channel}"
            self._apply(
                [
                    Condition(
                        AlarmCode.speaker_line,
                        notice.channel,
                        notice.value,
                        f"line {notice.channel + 1}: fault reported by the board",
                    )
                ],
                {key},
            )
        with self._lock:
            if notice.kind == "rebooted":
                self._applied_on = None
                self._applied_volume = None
            self._poll_now = True
        self._wake.set()

    def _run(self) -> None:
        next_poll = 0.0
        while not self._stop.is_set():
            try:
                next_poll = self._turn(next_poll)
            except Exception:  # the board thread must outlive any surprise
                log.exception("cluster loop failed; going on")
                self._stop.wait(1.0)

    def _turn(self, next_poll: float) -> float:
        """One pass: power, volume, due line checks, poll; then sleep to the next deadline."""
        now = time.monotonic()
        with self._lock:
            if self._off_at is not None and now >= self._off_at and not self._holders:
                self._want_on = False
                self._off_at = None
            want_on = self._want_on
            due = [
                pid
                for pid, t0 in self._playing.items()
                if pid not in self._checks and now - t0 >= self.line_check_after_s
            ]
            poll = self._poll_now or now >= next_poll
            self._poll_now = False
            volume = self._wanted_volume()
        if volume is not None and volume != self._applied_volume:  # first: before the audio
            try:
                self.board.set_volume(volume)
                self._applied_volume = volume
            except HardwareError as exc:
                log.warning("hardware volume failed: %s", exc)
        if want_on != self._applied_on:
            try:
                began = time.monotonic()
                self.board.set_amplifiers(want_on, self.channel_gap_s, self._stop.wait)
                self._applied_on = want_on
                took = time.monotonic() - began
                log.info("amplifiers %s (%.1f s)", "on" if want_on else "off", took)
                if want_on and took > self.lead_s:
                    log.warning(
                        "switching the amplifiers on took %.1f s, more than lead_s %.1f s: "
                        "the first words may go out before the last channel is on",
                        took,
                        self.lead_s,
                    )
            except HardwareError as exc:
                log.warning("amplifiers %s failed: %s", "on" if want_on else "off", exc)
                poll = True
        for play_id in due:
            check = self._line_check()
            with self._lock:
                if play_id in self._playing:
                    self._checks[play_id] = check
        if poll:
            next_poll = time.monotonic() + self._poll()
        self._wake.wait(self._next_wait(next_poll, want_on != self._applied_on))
        self._wake.clear()
        return next_poll

    def _next_wait(self, next_poll: float, retry: bool) -> float:
        now = time.monotonic()
        deadlines = [next_poll]
        with self._lock:
            if self._off_at is not None:
                deadlines.append(self._off_at)
            deadlines += [
                t0 + self.line_check_after_s
                for pid, t0 in self._playing.items()
                if pid not in self._checks
            ]
        if retry:
            deadlines.append(now + 2.0)
        return max(0.0, min(deadlines) - now)

    def _poll(self) -> float:
        """Read the board, update readings and alarms; returns when to read again."""
        readings = self.board.read()
        if readings is None:
            return self.poll_s
        if readings.connected:
            self._unreachable_since = None
        else:
            now = time.monotonic()
            self._unreachable_since = self._unreachable_since or now
            if now - self._unreachable_since < self.unreachable_after_s:
                return min(1.0, self.poll_s)  # a glitch is not an alarm yet: look again soon
        with self._lock:
            self._readings = readings
            if (
                readings.connected
                and readings.amplifiers
                and self._applied_on is not None
                and any(readings.amplifiers) != self._applied_on
            ):
                self._applied_on = None  # the board lost our state (watchdog, brown-out)
                self._wake.set()
            wanted = self._wanted_volume()
            if (
                readings.connected
                and None not in (readings.volume, wanted)
                and readings.volume != wanted
            ):
                self._applied_volume = None  # set again on the next turn of the loop
                self._wake.set()
        found, judged = board_conditions(readings, self.thresholds, set(self._tracker.active))
        self._apply(found, judged)
        return self.poll_s

    def _line_check(self) -> LineCheck | None:
        readings = self.board.read()
        if readings is None or not readings.connected or not readings.line_ma:
            return None
        with self._lock:
            self._readings = readings
        found, judged = line_conditions(readings.line_ma, readings.amplifiers, self.thresholds)
        self._apply(found, judged)
        check = LineCheck(
            line_ma=readings.line_ma,
            dead_channels=dead_channels(
                readings.line_ma, readings.amplifiers, self.thresholds.line_min_ma
            ),
        )
        self.last_line_check = check
        return check

    def modem_fault(self, reason: str | None) -> None:
        """The SMS modem's state: a reason raises the ``modem`` alarm, None clears it."""
        found = [Condition(AlarmCode.modem, detail=reason)] if reason else []
        self._apply(found, {AlarmCode.modem.value})

    def check_disk(self, free_mb: int | None, low_mb: float) -> None:
        """The health loop's reading of free storage: raise or clear ``disk_low``."""
        with self._lock:
            active = set(self._tracker.active)
        self._apply(*disk_conditions(free_mb, low_mb, active))

    def _apply(self, found: list[Condition], judged: set[str]) -> None:
        with self._lock:
            raised, cleared = self._tracker.update(found, judged)
            if not raised and not cleared:
                return
            try:
                atomic_write(
                    self._alarms_path,
                    json.dumps(
                        {
                            key: {
                                "code": c.code.value,
                                "channel": c.channel,
                                "value": c.value,
                                "detail": c.detail,
                            }
                            for key, c in self._tracker.active.items()
                        }
                    ).encode(),
                )
            except OSError as exc:  # a full disk: the alarm still goes out
                log.error("alarms not saved: %s", exc)
        for condition, active in [*((c, True) for c in raised), *((c, False) for c in cleared)]:
            log.warning("alarm %s %s", condition.key, "raised" if active else "cleared")
            self._emit(
                AlarmEvent(
                    event_id=uuid.uuid4().hex,
                    device_id=self.device_id,
                    ts=utcnow(),
                    code=condition.code,
                    active=active,
                    channel=condition.channel,
                    value=condition.value,
                    detail=condition.detail,
                )
            )
