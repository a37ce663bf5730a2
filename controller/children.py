"""Child processes the controller runs (Mosquitto, Icecast): stopped the same careful way, and
kept running by one ``Supervisor``.

A broker the controller started and then lost to ``kill -9`` used to stay dead until someone
started one by hand, and every later ACL reload (a SIGHUP to the process it had started)
reached nothing: a retired device's credential still got in. The supervisor notices a child
gone within a second, starts it again with its generated configuration re-applied, backs off
when it keeps dying, and says so (an alarm, a metric) until it stays up.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


def stop_child(proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    """SIGTERM (it saves what it must keep), SIGKILL if it hangs past ``timeout``."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def listening(host: str, port: int) -> bool:
    """Whether something accepts connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_listening(
    proc: subprocess.Popen[bytes], host: str, port: int, timeout: float, name: str, logs: str
) -> None:
    """Return once the child listens; RuntimeError if it exits or does not within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited at start (see {logs})")
        if listening(host, port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not listen on {host}:{port}")


def die_with_parent() -> None:
    """In the child (``preexec_fn``): SIGTERM when the thread that started it ends, even
    when the controller is killed (Linux). Only the supervisor's thread starts children, and
    it lives as long as the controller. Cleared if the child changes user (Icecast as root):
    those leave a pid file to be found by the next start."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def stop_orphan(pidfile: Path, conf: Path, name: str) -> None:
    """A child left by a controller that was killed (one that changed user did not die with
    it): stopped before a new one starts, if the pid file's process runs ``conf``."""
    try:
        pid = int(pidfile.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return
    if str(conf).encode() not in cmdline:
        return
    log.warning("stopping the %s a previous controller left running (pid %s)", name, pid)
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return
    for _ in range(100):
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


class Child(Protocol):
    """What the supervisor needs of a child: start it (RuntimeError if it would not), whether
    it still runs, stop it."""

    def start(self) -> None: ...

    def alive(self) -> bool: ...

    def stop(self) -> None: ...


@dataclass
class ChildStatus:
    """One supervised child, as the metrics and the alarm see it."""

    name: str
    up: bool = False
    restarts: int = 0  # started again after dying (not the first start)
    failing: bool = False  # died ``FAILING_DEATHS`` times within ``FAILING_WINDOW_S``
    last_error: str = ""
    deaths: deque[float] = field(default_factory=lambda: deque(maxlen=16))


@dataclass
class _Entry:
    name: str
    child: Child
    prepare: Callable[[], None]
    required: bool
    status: ChildStatus
    next_try: float = 0.0
    delay: float = 0.0
    up_since: float = 0.0
    first: threading.Event = field(default_factory=threading.Event)


class Supervisor:
    """Starts each child, restarts it when it dies (after ``prepare``: the generated
    configuration written again), with a back-off doubling from ``min_delay_s`` to
    ``max_delay_s``. A child dying ``failing_deaths`` times within ``failing_window_s`` is
    failing: ``on_failing(name, detail)`` once, ``on_recovered(name)`` when it has stayed up
    ``stable_s``. Every start happens on the supervisor's own thread (see
    ``die_with_parent``)."""

    def __init__(
        self,
        on_failing: Callable[[str, str], None] = lambda name, detail: None,
        on_recovered: Callable[[str], None] = lambda name: None,
        *,
        check_s: float = 0.5,
        min_delay_s: float = 1.0,
        max_delay_s: float = 60.0,
        failing_deaths: int = 3,
        failing_window_s: float = 600.0,
        stable_s: float = 60.0,
    ):
        self._on_failing = on_failing
        self._on_recovered = on_recovered
        self._check_s = check_s
        self._min_delay = min_delay_s
        self._max_delay = max_delay_s
        self._failing_deaths = failing_deaths
        self._failing_window = failing_window_s
        self._stable_s = stable_s
        self._entries: list[_Entry] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def add(
        self,
        name: str,
        child: Child,
        *,
        prepare: Callable[[], None] = lambda: None,
        required: bool = True,
    ) -> None:
        """Supervise ``child``. A ``required`` child that cannot start the first time fails
        ``start``; another is logged and tried again."""
        self._entries.append(_Entry(name, child, prepare, required, ChildStatus(name)))

    def start(self, timeout: float = 30.0) -> None:
        """Start every child (on the supervisor's thread) and watch them; raises the first
        required child's start error."""
        if not self._entries or self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)
        self._thread.start()
        for entry in self._entries:
            entry.first.wait(timeout)
            if entry.required and not entry.status.up:
                error = entry.status.last_error or f"{entry.name} did not start"
                self.stop()
                raise RuntimeError(error)

    def stop(self) -> None:
        """Stop watching, then stop the children (last added first)."""
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        self._thread = None
        for entry in reversed(self._entries):
            try:
                entry.child.stop()
            except Exception:
                log.exception("stopping %s", entry.name)
            entry.status.up = False

    def statuses(self) -> list[ChildStatus]:
        with self._lock:
            return [
                ChildStatus(
                    e.status.name,
                    e.status.up,
                    e.status.restarts,
                    e.status.failing,
                    e.status.last_error,
                )
                for e in self._entries
            ]

    # --- the watch -------------------------------------------------------------------------

    def _run(self) -> None:
        for entry in self._entries:
            self._try_start(entry, first=True)
            entry.first.set()
        while not self._stopping.wait(self._check_s):
            now = time.monotonic()
            for entry in self._entries:
                if self._stopping.is_set():
                    return
                try:
                    self._watch(entry, now)
                except Exception:  # the watch itself must not die
                    log.exception("supervising %s", entry.name)

    def _watch(self, entry: _Entry, now: float) -> None:
        status = entry.status
        if status.up:
            if entry.child.alive():
                if status.failing and now - entry.up_since >= self._stable_s:
                    self._recovered(entry)
                elif now - entry.up_since >= self._stable_s:
                    entry.delay = 0.0
                return
            self._died(entry, now, "exited")
        if now >= entry.next_try:
            self._try_start(entry)

    def _try_start(self, entry: _Entry, first: bool = False) -> None:
        try:
            if not first:
                entry.prepare()
            entry.child.start()
        except Exception as exc:  # noqa: BLE001 - any failure to start is a death to back off
            message = str(exc) or type(exc).__name__
            with self._lock:
                entry.status.last_error = message
            log.error("%s did not start: %s", entry.name, message)
            self._died(entry, time.monotonic(), message)
            return
        with self._lock:
            entry.status.up = True
            if not first:
                entry.status.restarts += 1
        entry.up_since = time.monotonic()
        if not first:
            log.warning("%s started again (restart %d)", entry.name, entry.status.restarts)

    def _died(self, entry: _Entry, now: float, how: str) -> None:
        status = entry.status
        with self._lock:
            if status.up:
                log.error(
                    "%s %s; starting it again in %.0f s",
                    entry.name,
                    how,
                    max(entry.delay, self._min_delay),
                )
            status.up = False
            status.deaths.append(now)
            recent = [t for t in status.deaths if now - t <= self._failing_window]
            newly_failing = not status.failing and len(recent) >= self._failing_deaths
            if newly_failing:
                status.failing = True
        entry.delay = min(self._max_delay, max(self._min_delay, entry.delay * 2))
        entry.next_try = now + entry.delay
        if newly_failing:
            detail = f"{len(recent)} lần trong {self._failing_window / 60:g} phút: {how}"
            try:
                self._on_failing(entry.name, detail[:300])
            except Exception:
                log.exception("alarm for %s", entry.name)

    def _recovered(self, entry: _Entry) -> None:
        with self._lock:
            entry.status.failing = False
        entry.delay = 0.0
        log.warning("%s has stayed up %.0f s: no longer failing", entry.name, self._stable_s)
        try:
            self._on_recovered(entry.name)
        except Exception:
            log.exception("clearing the alarm for %s", entry.name)
