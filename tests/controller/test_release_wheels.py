"""What the controller accepts as an agent release: a wheel of the agent whose file name
says the version its metadata holds; anything else is refused with a reason."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from controller.domain.errors import Invalid
from controller.services.updates import read_wheel


def _wheel(
    path: Path, version: str = "0.2.0", name: str = "loalang-agent", agent: bool = True
) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        info = f"loalang_agent-{version}.dist-info"
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.4\nName: {name}\nVersion: {version}\n")
        z.writestr(
            f"{info}/entry_points.txt",
            "[console_scripts]\nloalang-agent = edge_agent.__main__:main\n",
        )
        if agent:
            z.writestr("edge_agent/__main__.py", "")
    return path


def test_an_agent_wheel_gives_its_version(tmp_path: Path) -> None:
    path = _wheel(tmp_path / "w.whl")
    assert read_wheel(path, "loalang_agent-0.2.0-py3-none-any.whl") == "0.2.0"


@pytest.mark.parametrize(
    ("make", "filename", "key"),
    [
        (
            lambda p: p.write_bytes(b"PK not really"),
            "loalang_agent-0.2.0-py3-none-any.whl",
            "release.not_wheel",
        ),
        (lambda p: _wheel(p), "agent.zip", "release.bad_name"),
        (
            lambda p: _wheel(p),
            "loalang_agent-0.2.0-cp311-cp311-linux_armv7l.whl",
            "release.bad_name",
        ),
        (
            lambda p: _wheel(p, agent=False),
            "loalang_agent-0.2.0-py3-none-any.whl",
            "release.not_agent",
        ),
        (
            lambda p: _wheel(p, name="other"),
            "loalang_agent-0.2.0-py3-none-any.whl",
            "release.not_agent",
        ),
        (  # the whole project's wheel (the controller's): not what a Pi installs
            lambda p: _wheel(p, name="loalang"),
            "loalang_agent-0.2.0-py3-none-any.whl",
            "release.not_agent",
        ),
        (
            lambda p: _wheel(p, version="0.3.0"),
            "loalang_agent-0.2.0-py3-none-any.whl",
            "release.name_version",
        ),
    ],
)
def test_anything_else_is_refused_with_its_reason(
    tmp_path: Path, make, filename: str, key: str
) -> None:
    path = tmp_path / "upload"
    make(path)
    with pytest.raises(Invalid) as refused:
        read_wheel(path, filename)
    assert refused.value.key == key
