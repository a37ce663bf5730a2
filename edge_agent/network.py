"""The uplink a technician asks about first: which interface, what kind, how strong.

Read from /proc (route, wireless) and, for a 4G modem, ModemManager's ``mmcli`` when it is
installed. Cached for ten minutes: nothing here is worth a process spawn per report.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from protocol.messages import NetworkReadings

_CACHE_S = 600.0
_cache: tuple[float, NetworkReadings] | None = None


def default_interface(route_file: Path = Path("/proc/net/route")) -> str | None:
    """The interface of the default IPv4 route (lowest metric)."""
    try:
        lines = route_file.read_text().splitlines()[1:]
    except OSError:
        return None
    best: tuple[int, str] | None = None
    for line in lines:
        parts = line.split()
        if len(parts) >= 7 and parts[1] == "00000000":
            metric = int(parts[6])
            if best is None or metric < best[0]:
                best = (metric, parts[0])
    return best[1] if best else None


def interface_type(name: str) -> str:
    if name.startswith(("wwan", "ppp", "usb", "rmnet", "wwp")):
        return "cellular"
    if name.startswith(("wlan", "wl")):
        return "wifi"
    if name.startswith(("eth", "en")):
        return "ethernet"
    return "unknown"


def wifi_signal_dbm(name: str, wireless: Path = Path("/proc/net/wireless")) -> int | None:
    try:
        for line in wireless.read_text().splitlines()[2:]:
            iface, _, rest = line.partition(":")
            if iface.strip() == name:
                return int(float(rest.split()[2].rstrip(".")))
    except (OSError, ValueError, IndexError):
        pass
    return None


def cellular_signal_percent() -> int | None:
    """Signal quality of the first modem ModemManager knows, if it is installed."""
    if not shutil.which("mmcli"):
        return None
    try:
        out = subprocess.run(
            ["mmcli", "-m", "any", "--output-keyvalue"], capture_output=True, text=True, timeout=3
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "modem.generic.signal-quality.value":
            try:
                return int(value.strip())
            except ValueError:
                return None
    return None


def read_network() -> NetworkReadings:
    global _cache
    now = time.monotonic()
    if _cache is not None and now - _cache[0] < _CACHE_S:
        return _cache[1]
    name = default_interface()
    kind = interface_type(name) if name else "unknown"
    readings = NetworkReadings(
        interface=name,
        type=kind,  # type: ignore[arg-type]
        signal_dbm=wifi_signal_dbm(name) if name and kind == "wifi" else None,
        signal_percent=cellular_signal_percent() if kind == "cellular" else None,
    )
    _cache = (now, readings)
    return readings
