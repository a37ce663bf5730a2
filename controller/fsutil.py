"""Files the controller keeps to itself: written whole (a crash leaves the old or the new
one) and readable only by the controller (and, for the broker's files, its group)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

CHUNK = 1 << 20


class AsyncReader(Protocol):
    async def read(self, size: int = -1) -> bytes: ...


async def receive_upload(
    upload: AsyncReader,
    dest: Path,
    limit: int,
    too_large: Callable[[], Exception],
    empty: Callable[[], Exception],
) -> Path:
    """Copy an upload to ``dest`` as it streams in, refusing it past ``limit`` bytes or when
    empty; nothing is left behind when it is refused."""
    size = 0
    try:
        with dest.open("wb") as fh:
            while chunk := await upload.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise too_large()
                fh.write(chunk)
        if size == 0:
            raise empty()
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return dest


def write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` atomically with ``mode`` from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def secret_file(path: Path) -> str:
    """A secret kept in ``path`` (0600), made on first use."""
    if path.is_file():
        return path.read_text().strip()
    value = secrets.token_urlsafe(24)
    write_private(path, (value + "\n").encode())
    return value
