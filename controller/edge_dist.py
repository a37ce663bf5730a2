"""The agent's distribution, "loalang-agent", made from this repository: its three packages
(``protocol``, ``edge_agent``, ``firmware_bridge``) and its own pyproject
(``deploy/edge/agent-pyproject.toml``) laid out as a source tree, archived for the controller's
``/edge/loalang-agent.tar.gz`` (what install.sh fetches) or built into a wheel for a signed
update (``loalang release build``). Standard library only: install.sh runs it from a checkout
with the system's Python (``python3 -m controller.edge_dist tree DIR``)."""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AGENT_PACKAGES = ("protocol", "edge_agent", "firmware_bridge")
PYPROJECT = ROOT / "deploy" / "edge" / "agent-pyproject.toml"
README = ROOT / "deploy" / "edge" / "README-agent.md"
DEPLOY = ROOT / "deploy" / "edge"


def available() -> bool:
    """Whether this controller was installed from a source tree that holds the agent."""
    return PYPROJECT.is_file() and all((ROOT / p).is_dir() for p in AGENT_PACKAGES)


def _skip(directory: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__" or n.endswith((".pyc", ".pyo"))]


def tree(dest: Path, version: str | None = None) -> Path:
    """The agent's source tree in ``dest`` (made; ``version`` overrides the tree's, for test
    releases)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in AGENT_PACKAGES:
        shutil.copytree(ROOT / name, dest / name, ignore=_skip, dirs_exist_ok=True)
    shutil.copy2(PYPROJECT, dest / "pyproject.toml")
    shutil.copy2(README, dest / "README.md")
    shutil.copytree(DEPLOY, dest / "deploy" / "edge", ignore=_skip, dirs_exist_ok=True)
    if version is not None:
        init = dest / "protocol" / "__init__.py"
        text = init.read_text()
        start = text.index('__version__ = "')
        end = text.index('"', start + len('__version__ = "'))
        init.write_text(f'{text[:start]}__version__ = "{version}{text[end:]}')
    return dest


def tarball() -> bytes:
    """The tree as ``loalang-agent/…`` in a gzipped tar."""
    buf = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="loalang-agent-") as tmp:
        src = tree(Path(tmp) / "loalang-agent")
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            tar.add(src, arcname="loalang-agent")
    return buf.getvalue()


def wheel(out: Path, version: str | None = None, python: str = sys.executable) -> Path:
    """A wheel of the agent in ``out`` (built offline: no download)."""
    with tempfile.TemporaryDirectory(prefix="loalang-agent-") as tmp:
        return wheel_of(tree(Path(tmp) / "loalang-agent", version), out, python)


def wheel_of(src: Path, out: Path, python: str = sys.executable) -> Path:
    """The wheel of a tree laid out by ``tree`` (offline, no build isolation), into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            python,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(out),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    return max(out.glob("loalang_agent-*.whl"), key=lambda p: p.stat().st_mtime_ns)  # just made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("tree", help="lay out the agent's source tree").add_argument("dest", type=Path)
    sub.add_parser("wheel", help="build the agent's wheel").add_argument("out", type=Path)
    args = parser.parse_args()
    if args.what == "tree":
        print(tree(args.dest))
    else:
        print(wheel(args.out))


if __name__ == "__main__":
    main()
