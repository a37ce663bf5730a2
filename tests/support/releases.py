"""Agent releases for the update tests: real wheels built from this source tree (with another
version, or broken on purpose), and a first release laid out as ``install.sh`` leaves it."""

from __future__ import annotations

import importlib.metadata
import shutil
from collections.abc import Callable
from pathlib import Path

from edge_agent.update import Releases

ROOT = Path(__file__).resolve().parents[2]
AGENT_DISTRIBUTIONS = (
    "msgspec",
    "pynacl",
    "cffi",
    "pycparser",
    "paho-mqtt",
    "pyserial",
    "cobs",
    "pip",
)
"""What a Pi's first release holds besides the agent (``pip install loalang-agent``)."""


def build_wheel(version: str, work: Path, patch: Callable[[Path], None] | None = None) -> Path:
    """A wheel of the agent's own distribution at ``version`` (``patch`` may break the copy
    first), laid out and built as ``loalang release build`` does (``controller/edge_dist.py``)."""
    from controller import edge_dist

    src = work / f"src-{version}"
    shutil.rmtree(src, ignore_errors=True)
    edge_dist.tree(src, version)
    if patch is not None:
        patch(src)
    return edge_dist.wheel_of(src, work / "wheels")


def dependencies_site(dest: Path) -> Path:
    """The agent's dependencies (and pip), hard-linked from this test environment into a
    site-packages of their own: what ``install.sh`` installs from the package index."""
    if dest.exists():
        return dest
    staging = dest.with_name(dest.name + ".part")
    shutil.rmtree(staging, ignore_errors=True)
    for name in AGENT_DISTRIBUTIONS:
        dist = importlib.metadata.distribution(name)
        base = Path(str(dist.locate_file("")))
        for file in dist.files or []:
            if str(file).startswith(".."):
                continue  # console scripts: every release gets its own
            src = Path(str(dist.locate_file(file)))
            if not src.is_file():
                continue
            target = staging / src.relative_to(base)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                target.hardlink_to(src)
            except OSError:
                shutil.copy2(src, target)
    staging.rename(dest)
    return dest


def first_release(root: Path, wheel: Path, version: str, deps: Path) -> Releases:
    """``root`` laid out as install.sh leaves a Pi: one release, ``current`` naming it."""
    releases = Releases(root)
    root.mkdir(parents=True, exist_ok=True)
    release = releases.install(wheel, version, deps)
    releases.point(releases.current, release)
    return releases
