"""What the broker refused, read from its own log: pure parsing, and a reader for the log stream
of the Mosquitto the controller runs (or a file an operator's broker writes).

Why the log: Mosquitto 2.0 says it refused a publish only in its debug log ("Denied PUBLISH
from …"), has no hook a Python process can use short of a C plugin, and grants a subscription
outside the ACL (it filters what it delivers later), so a subscription is judged here against
the same ACL the controller wrote (``access.py``). NATS logs "Publish Violation" and
"Subscription Violation" as errors. Only what is worth keeping goes on to the broker's log file:
the debug chatter (every PUBLISH, PUBACK, PINGREQ) does not.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

_MOSQUITTO_DENIED = re.compile(rb"Denied PUBLISH from (\S+) \(d\d, q\d, r\d, m\d+, '([^']*)'")
_MOSQUITTO_SUBSCRIBE = re.compile(rb"^(?:\d+: )?(\S+) (\d+) (\S+)$")
_NATS_VIOLATION = re.compile(
    rb'(Publish|Subscription) Violation - User "([^"]+)", '
    rb'Subject "([^"]+)"'
)
_CHATTER = (b"Received ", b"Sending ", b"\t", b"No will message", b"Client ")
"""Debug lines that are not kept (every message and ping), after the timestamp."""


@dataclass(frozen=True)
class Denial:
    """The broker refused ``user``'s ``action`` (``publish`` or ``subscribe``) on ``topic``
    (an MQTT topic; NATS subjects are turned back into topics)."""

    user: str
    action: str
    topic: str


@dataclass(frozen=True)
class Subscription:
    """A subscription the broker granted (Mosquitto's ``subscribe`` log line)."""

    user: str
    topic: str


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def parse_line(line: bytes) -> Denial | Subscription | None:
    """A refusal or a subscription in one line of a broker's log; None for anything else."""
    if b"Denied PUBLISH" in line:
        m = _MOSQUITTO_DENIED.search(line)
        return Denial(_text(m[1]), "publish", _text(m[2])) if m else None
    if b"Violation" in line:
        m = _NATS_VIOLATION.search(line)
        if m:
            subject = _text(m[3])
            topic = subject.replace(".", "/").replace("*", "+").replace(">", "#")
            return Denial(_text(m[2]), "publish" if m[1] == b"Publish" else "subscribe", topic)
        return None
    m = _MOSQUITTO_SUBSCRIBE.match(line)
    if m and m[2].isdigit() and not line.endswith(b")"):
        return Subscription(_text(m[1]), _text(m[3]))
    return None


def kept(line: bytes) -> bool:
    """Whether a line goes on to the broker's log file (not the per-message debug chatter)."""
    body = line.split(b": ", 1)[1] if line[:1].isdigit() and b": " in line else line
    return (
        not body.startswith(_CHATTER)
        or body.startswith(b"Client <unknown>")
        or b"disconnected" in body
    )


Handler = Callable[[Denial | Subscription], None]


def read_stream(stream: BinaryIO, handler: Handler, keep: BinaryIO | None) -> None:
    """Read a broker's log stream to its end: refusals and subscriptions to ``handler``, the
    lines worth keeping to ``keep``. Reads whole chunks: the broker must never wait on us."""
    rest = b""
    fd = stream.fileno()
    while True:
        try:
            chunk = os.read(fd, 1 << 20)
        except OSError:
            break
        if not chunk:
            break
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        out = []
        for line in lines:
            if b"Denied" in line or b"Violation" in line or line.count(b" ") <= 3:
                found = parse_line(line)
                if found is not None:
                    try:
                        handler(found)
                    except Exception:
                        log.exception("broker log handler failed")
            if keep is not None and kept(line):
                out.append(line)
        if keep is not None and out:
            keep.write(b"\n".join(out) + b"\n")
            keep.flush()


def grow_pipe(fd: int, size: int = 1 << 20) -> None:
    """A pipe of ``size`` bytes where Linux allows it (F_SETPIPE_SZ): a busy broker's debug
    log then never waits for the reader."""
    try:
        import fcntl

        fcntl.fcntl(fd, 1031, size)  # F_SETPIPE_SZ
    except (OSError, ImportError):
        pass


class LogTail:
    """Follows a log file an operator's broker writes (``broker_log_file``), from its end, and
    through rotation; refusals to ``handler``."""

    def __init__(self, path: Path, handler: Handler, poll_s: float = 1.0):
        self._path = path
        self._handler = handler
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="broker-log", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        handle = None
        inode = None
        rest = b""
        while not self._stop.is_set():
            try:
                stat = self._path.stat()
                if handle is None or stat.st_ino != inode or stat.st_size < handle.tell():
                    if handle is not None:
                        handle.close()
                    handle = self._path.open("rb")
                    if inode is None:
                        handle.seek(0, os.SEEK_END)  # what was there before we started
                    inode = stat.st_ino
                    rest = b""
                data = handle.read()
            except OSError:
                data = b""
            if data:
                lines = (rest + data).split(b"\n")
                rest = lines.pop()
                for line in lines:
                    found = parse_line(line)
                    if found is not None:
                        try:
                            self._handler(found)
                        except Exception:
                            log.exception("broker log handler failed")
            else:
                time.sleep(self._poll_s)
        if handle is not None:
            handle.close()
