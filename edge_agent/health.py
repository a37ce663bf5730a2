"""System readings for the periodic health report (Linux /proc; degrade gracefully elsewhere)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from protocol.messages import HealthReport, utcnow

_START = time.monotonic()


def _meminfo() -> tuple[int | None, int | None]:
    try:
        fields = {}
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            fields[key] = int(rest.split()[0])
        return fields["MemTotal"] // 1024, fields["MemAvailable"] // 1024
    except (OSError, KeyError, ValueError, IndexError):
        return None, None


def _system_uptime() -> int:
    try:
        return int(float(Path("/proc/uptime").read_text().split()[0]))
    except (OSError, ValueError, IndexError):
        return int(time.monotonic() - _START)


_CLOCK_CHECK_EVERY_S = 600.0
_clock_cache: tuple[float, bool | None] | None = None


def clock_synchronized() -> bool | None:
    """What systemd-timesyncd/chrony told the kernel; None where it cannot be read.

    Asked at most every ten minutes: spawning a process each minute is waste on a Pi.
    """
    global _clock_cache
    now = time.monotonic()
    if _clock_cache is not None and now - _clock_cache[0] < _CLOCK_CHECK_EVERY_S:
        return _clock_cache[1]
    value: bool | None = None
    if shutil.which("timedatectl"):
        try:
            out = subprocess.run(
                ["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
                capture_output=True,
                text=True,
                timeout=2,
            )
            value = {"yes": True, "no": False}.get(out.stdout.strip())
        except (OSError, subprocess.TimeoutExpired):
            value = None
    _clock_cache = (now, value)
    return value


def read_health(
    device_id: str,
    version: str,
    data_dir: Path,
    cache_usage: tuple[int, int],
    outbox_pending: int,
    duplicates_ignored: int = 0,
    **extra: Any,
) -> HealthReport:
    """System readings plus what the agent adds (``extra``: volume, hardware, network, ...)."""
    total, available = _meminfo()
    try:
        disk_free = shutil.disk_usage(data_dir).free // (1024 * 1024)
    except OSError:
        disk_free = None
    try:
        load = round(os.getloadavg()[0], 2)
    except OSError:
        load = None
    return HealthReport(
        event_id=uuid.uuid4().hex,
        device_id=device_id,
        ts=utcnow(),
        version=version,
        uptime_s=_system_uptime(),
        load_1m=load,
        mem_total_mb=total,
        mem_available_mb=available,
        disk_free_mb=disk_free,
        cache_mb=round(cache_usage[0] / (1024 * 1024), 2),
        cache_files=cache_usage[1],
        clock_synchronized=clock_synchronized(),
        outbox_pending=outbox_pending,
        duplicates_ignored=duplicates_ignored,
        **extra,
    )
