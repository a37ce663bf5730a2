"""A simulated device's serial port: a pseudo-terminal whose slave end a stable symlink
names, as udev names a real USB serial device (the simulators' shared plumbing)."""

from __future__ import annotations

import os
import select
import tty
from pathlib import Path


def plug(port: Path) -> tuple[int, int]:
    """A raw pty behind the symlink ``port`` (replaced atomically): (master, slave) fds."""
    master, slave = os.openpty()
    tty.setraw(slave)
    port.parent.mkdir(parents=True, exist_ok=True)
    tmp = port.with_name(port.name + ".tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(os.ttyname(slave))
    os.replace(tmp, port)
    return master, slave


def unplug(port: Path, *fds: int | None) -> None:
    """The cable pulled out: the symlink gone, the pty closed."""
    port.unlink(missing_ok=True)
    for fd in fds:
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass


def write(fd: int | None, data: bytes) -> None:
    """Bytes to the program on the far end; nothing if unplugged or it went away."""
    if fd is None:
        return
    try:
        os.write(fd, data)
    except OSError:
        pass


def read(fd: int, timeout: float) -> bytes | None:
    """What the far end wrote within ``timeout`` (``b""``: nothing), or None once the pty is
    closed (unplugged)."""
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        return os.read(fd, 1024) if ready else b""
    except OSError:
        return None
