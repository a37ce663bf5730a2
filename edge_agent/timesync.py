"""How far this Pi's clock is from true time, so that start skew can be judged on one clock.

Plays start at absolute instants of each device's own clock; two loudspeakers 40 ms apart on
their own clocks may be 200 ms apart in the air if one clock is off. The agent reports the
offset with its health and each playback start, from the first source that answers: chrony
(``chronyc tracking``), systemd-timesyncd (``timedatectl timesync-status``) or an SNTP
query of its own to ``ntp_server`` (RFC 4330). Offset is NTP's θ: true time minus this
clock, so a start corrected for it is ``actual_start + offset``.

The packet functions are pure; the readers spawn at most one process or one UDP exchange per
``every_s`` (default ten minutes: a Pi on 4G should not pay more).
"""

from __future__ import annotations

import re
import shutil
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass

NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
PACKET = struct.Struct("!B B b b I I 4s Q Q Q Q")
"""An NTP packet (RFC 4330 §4): flags, stratum, poll, precision, delay, dispersion, ref id,
and the reference, originate, receive and transmit timestamps."""


@dataclass(frozen=True)
class ClockOffset:
    """True time minus this clock, in milliseconds, and where it was read."""

    offset_ms: float
    source: str  # chrony | timesyncd | sntp


def to_ntp(unix: float) -> int:
    """A Unix time as a 64-bit NTP timestamp (32.32 fixed point since 1900)."""
    return int((unix + NTP_EPOCH_OFFSET) * 2**32) & 0xFFFF_FFFF_FFFF_FFFF


def from_ntp(value: int) -> float:
    return value / 2**32 - NTP_EPOCH_OFFSET


def sntp_request(t1: float) -> bytes:
    """A client request (version 4, mode 3) carrying our send time ``t1``."""
    return PACKET.pack(0x23, 0, 0, 0, 0, 0, b"\0\0\0\0", 0, 0, 0, to_ntp(t1))


def sntp_offset(reply: bytes, t1: float, t4: float) -> float:
    """θ in seconds from a server reply to the request sent at ``t1``, received at ``t4``.

    Refuses what is not a valid answer to that request (RFC 4330 §5): wrong mode, a
    kiss-of-death or unsynchronised server, or an originate time that is not ours."""
    if len(reply) < PACKET.size:
        raise ValueError("short SNTP reply")
    (
        flags,
        stratum,
        _poll,
        _precision,
        _delay,
        _dispersion,
        _ref_id,
        _ref,
        originate,
        receive,
        transmit,
    ) = PACKET.unpack_from(reply)
    if flags & 0x07 != 4:
        raise ValueError("not a server reply")
    if flags >> 6 == 3 or stratum == 0 or stratum > 15:
        raise ValueError("server not synchronised")
    if originate != to_ntp(t1) or not transmit:
        raise ValueError("reply does not answer our request")
    t2, t3 = from_ntp(receive), from_ntp(transmit)
    return ((t2 - t1) + (t3 - t4)) / 2


def round_trip(reply: bytes, t1: float, t4: float) -> float:
    """δ in seconds: the exchange's time on the wire, the server's own time taken out."""
    receive, transmit = PACKET.unpack_from(reply)[9:11]
    return (t4 - t1) - (from_ntp(transmit) - from_ntp(receive))


def query_sntp(host: str, port: int = 123, timeout: float = 2.0, exchanges: int = 4) -> float:
    """θ in seconds from ``exchanges`` SNTP exchanges with ``host``: the one with the
    shortest round trip, as NTP's clock filter does (a delay met on one way only — a busy 4G
    cell, a loaded CPU — skews θ by up to half of it)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    samples: list[tuple[float, float]] = []
    error: Exception | None = None
    with socket.socket(family, kind, proto) as sock:
        sock.settimeout(timeout)
        for _ in range(exchanges):
            try:
                t1 = time.time()
                sock.sendto(sntp_request(t1), address)
                reply, _ = sock.recvfrom(512)
                t4 = time.time()
                samples.append((round_trip(reply, t1, t4), sntp_offset(reply, t1, t4)))
            except TimeoutError as exc:  # nobody answers: asking again only waits longer
                error = exc
                break
            except (OSError, ValueError) as exc:  # a refused or stale datagram: the next one
                error = exc
    if not samples:
        raise error or OSError("no SNTP reply")
    return min(samples)[1]


_CHRONY_RE = re.compile(r"^System time\s*:\s*([0-9.]+) seconds (slow|fast) of NTP time", re.M)


def parse_chrony_tracking(text: str) -> float:
    """θ in seconds from ``chronyc tracking``: a clock *slow* of NTP time is behind (θ > 0)."""
    match = _CHRONY_RE.search(text)
    if match is None:
        raise ValueError("no System time line")
    value = float(match.group(1))
    return value if match.group(2) == "slow" else -value


_OFFSET_RE = re.compile(r"^\s*Offset:\s*([+-]?[0-9.]+)\s*(ns|us|µs|ms|s|min)\s*$", re.M)
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0}


def parse_timesyncd_status(text: str) -> float:
    """θ in seconds from ``timedatectl timesync-status`` (its ``Offset:`` line)."""
    match = _OFFSET_RE.search(text)
    if match is None:
        raise ValueError("no Offset line")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _run(args: list[str]) -> str | None:
    if shutil.which(args[0]) is None:
        return None
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=3)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def read_offset(ntp_server: str | None, ntp_port: int = 123) -> ClockOffset | None:
    """The first source that answers, or None (no daemon, no server configured)."""
    out = _run(["chronyc", "tracking"])
    if out:
        try:
            return ClockOffset(round(parse_chrony_tracking(out) * 1000, 3), "chrony")
        except ValueError:
            pass
    out = _run(["timedatectl", "timesync-status"])
    if out:
        try:
            return ClockOffset(round(parse_timesyncd_status(out) * 1000, 3), "timesyncd")
        except ValueError:
            pass
    if ntp_server:
        try:
            return ClockOffset(round(query_sntp(ntp_server, ntp_port) * 1000, 3), "sntp")
        except (OSError, ValueError):
            pass
    return None


def placement_correction(reading: ClockOffset | None) -> tuple[float, str]:
    """Seconds to take off a true instant to get this clock's, and which clock that follows.

    A clock that chrony or timesyncd disciplines is followed as it is ("system": they steer it
    already, correcting again would count the offset twice); with only the agent's own SNTP
    reading nothing steers the clock, so the offset is applied ("offset"); with no reading the
    clock is used as it is ("free").
    """
    if reading is None:
        return 0.0, "free"
    if reading.source == "sntp":
        return reading.offset_ms / 1000, "offset"
    return 0.0, "system"


class OffsetReader:
    """The last reading, refreshed at most every ``every_s`` (from the health thread)."""

    def __init__(self, ntp_server: str | None, ntp_port: int = 123, every_s: float = 600.0):
        self._server = ntp_server
        self._port = ntp_port
        self._every_s = every_s
        self._lock = threading.Lock()
        self._read_at: float | None = None
        self.last: ClockOffset | None = None

    def refresh(self) -> ClockOffset | None:
        """Read again if the last reading is older than ``every_s``; the current one."""
        now = time.monotonic()
        with self._lock:
            if self._read_at is not None and now - self._read_at < self._every_s:
                return self.last
            self._read_at = now
        reading = read_offset(self._server, self._port)
        with self._lock:
            self.last = reading
        return reading

    def correction(self) -> tuple[float, str]:
        """``placement_correction`` of the last reading (the player asks before each play)."""
        return placement_correction(self.last)

    @property
    def offset_ms(self) -> float | None:
        last = self.last
        return last.offset_ms if last is not None else None
