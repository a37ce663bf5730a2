"""A simulated device's serial port: a pseudo-terminal whose slave end a stable symlink
names, as udev names a real USB serial device (the simulators' shared plumbing)."""

from __future__ import annotations

import os
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
