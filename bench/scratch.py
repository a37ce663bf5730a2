"""Scratch directories for a bench run: removed when the run ends well, kept (and named) when
it crashes, so what a failure left behind can be read. ``LOALANG_BENCH_KEEP=1`` keeps them."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

_made: list[Path] = []
_crashed = False
_previous_hook = sys.excepthook


def _note_crash(*exc_info) -> None:  # type: ignore[no-untyped-def]
    global _crashed
    _crashed = True
    _previous_hook(*exc_info)


sys.excepthook = _note_crash


def _clean() -> None:
    if _crashed or os.environ.get("LOALANG_BENCH_KEEP"):
        for path in _made:
            if path.exists():
                print(f"(kept {path})", file=sys.stderr)
        return
    for path in _made:
        shutil.rmtree(path, ignore_errors=True)


atexit.register(_clean)


def scratch(prefix: str, dir: Path | str | None = None) -> Path:
    """A new directory named ``prefix…`` (under ``dir``, e.g. /dev/shm, if given)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=dir))
    _made.append(path)
    return path
