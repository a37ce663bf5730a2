"""The technician's one command: the controller serves the installer, which enrols the device
and lays down the config and the systemd unit (staged under a root directory here)."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

from edge_agent.agent import Agent
from edge_agent.config import AgentConfig
from tests.support.stack import Stack, wait_for

ROOT = Path(__file__).resolve().parents[2]


def test_installer_from_the_controller_enrols_a_pi_whose_agent_then_comes_online(
    stack: Stack, tmp_path: Path
):
    stack.add_zone("thon-dong")
    script = stack.api.get("/edge/install.sh")
    assert script.status_code == 200
    assert f"LOALANG_CONTROLLER:-{stack.base_url}" in script.text  # knows where it came from
    installer = tmp_path / "install.sh"
    installer.write_text(script.text)
    root = tmp_path / "root"
    args = [
        "bash",
        str(installer),
        "--root",
        str(root),
        "--no-system",
        "--python",
        sys.executable,
        "--device",
        "loa-pi-1",
        "--name",
        "Cụm loa chợ",
        "--zones",
        "thon-dong",
        "--hardware",
        "mcu",
        "--port",
        "/dev/ttyUSB0",
        "--token",
        stack.services.api_token,
    ]
    first = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr + first.stdout

    config_path = root / "etc" / "loalang" / "agent.toml"
    config = AgentConfig.load(config_path)
    assert config.device_id == "loa-pi-1"
    assert config.zones == ["thon-dong"]
    assert config.output.backend == "alsa"
    assert config.hardware.backend == "mcu"
    assert str(config.data_dir) == "/var/lib/loalang-agent"
    assert config_path.stat().st_mode & 0o077 == 0  # holds the device's credentials
    unit = root / "etc" / "systemd" / "system" / "loalang-agent.service"
    assert unit.read_text() == (ROOT / "deploy" / "edge" / "loalang-agent.service").read_text()
    device = stack.api.get("/api/devices/loa-pi-1").json()
    assert device["zones"] == ["thon-dong"]
    assert device["name"] == "Cụm loa chợ"

    again = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0
    assert "keeping the existing enrolment" in again.stdout

    # the enrolled credentials work: the agent comes online (file output, no board here)
    agent = Agent(
        config.replace(
            data_dir=str(tmp_path / "data"),
            output=config.output.replace(backend="file"),
            hardware=config.hardware.replace(backend="none"),
        )
    )
    agent.start()
    try:
        wait_for(
            lambda: stack.api.get("/api/devices/loa-pi-1").json()["status"] == "online",
            what="installed agent online",
        )
    finally:
        agent.stop()


def test_installer_keeps_a_config_made_in_the_web_ui_and_adds_the_board(
    stack: Stack, tmp_path: Path
):
    stack.add_zone("thon-dong")
    made = stack.api.post(
        "/api/devices", json={"id": "loa-pi-2", "name": "Cụm loa", "zones": ["thon-dong"]}
    ).json()
    root = tmp_path / "root"
    config_path = root / "etc" / "loalang" / "agent.toml"
    config_path.parent.mkdir(parents=True)
    config_path.write_text(made["config_toml"])
    installer = tmp_path / "install.sh"
    installer.write_text(stack.api.get("/edge/install.sh").text)
    args = [
        "bash",
        str(installer),
        "--root",
        str(root),
        "--no-system",
        "--python",
        sys.executable,
        "--hardware",
        "mcu",
        "--port",
        "/dev/ttyAMA0",
    ]  # no token needed
    for _ in range(2):  # a rerun adds nothing twice
        run = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr + run.stdout
    config = AgentConfig.load(config_path)
    assert config.device_id == "loa-pi-2"
    assert config.token == made["token"]
    assert config.hardware.backend == "mcu"
    assert str(config.hardware.port) == "/dev/ttyAMA0"
    assert config_path.read_text().count("[hardware]") == 1


def test_controller_serves_the_agent_source_without_controller_code(stack: Stack):
    r = stack.api.get("/edge/loalang-agent.tar.gz")
    assert r.status_code == 200
    names = tarfile.open(fileobj=io.BytesIO(r.content)).getnames()
    assert "loalang-agent/edge_agent/agent.py" in names
    assert "loalang-agent/pyproject.toml" in names
    assert not [n for n in names if n.startswith("loalang-agent/controller")]
    assert not [n for n in names if "__pycache__" in n]


def test_installer_refuses_without_what_it_needs(tmp_path: Path):
    out = subprocess.run(
        [
            "bash",
            str(ROOT / "deploy" / "edge" / "install.sh"),
            "--root",
            str(tmp_path),
            "--no-system",
            "--controller",
            "http://127.0.0.1:9",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1
    assert "--device ID is required" in out.stderr
    assert not (tmp_path / "etc").exists()  # nothing half-installed


def test_systemd_unit_is_valid(tmp_path: Path):
    import shutil

    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze (package systemd) is needed to check the unit"
    unit = tmp_path / "loalang-agent.service"
    # the venv of a real install is not here: check everything else with a stand-in binary
    text = (ROOT / "deploy" / "edge" / "loalang-agent.service").read_text()
    for release in ("current", "previous"):
        path = f"/var/lib/loalang-agent/releases/{release}/bin/loalang-agent"
        assert path in text
        text = text.replace(path, "/bin/true")
    unit.write_text(text)
    out = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "loalang-agent.service" not in out.stderr, out.stderr


def test_a_token_beginning_with_a_dash_reaches_the_enrolment(tmp_path: Path):
    """API tokens are URL-safe base64: one in 64 begins with "-" (once taken for an option)."""
    out = subprocess.run(
        [
            "bash",
            str(ROOT / "deploy" / "edge" / "install.sh"),
            "--root",
            str(tmp_path),
            "--no-system",
            "--python",
            sys.executable,
            "--controller",
            "http://127.0.0.1:9",
            "--device",
            "loa-pi-3",
            "--zones",
            "thon-dong",
            "--name",
            "-Cụm loa",
            "--token",
            "-x1y2z3w4",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1, out.stderr + out.stdout
    assert "expected one argument" not in out.stderr
    assert "cannot reach the controller" in out.stderr
