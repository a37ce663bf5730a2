"""The agent must not drag the controller's (or the operator CLI's) dependencies onto a Pi."""

import subprocess
import sys

CONTROLLER = [
    "fastapi",
    "starlette",
    "sqlalchemy",
    "alembic",
    "apscheduler",
    "uvicorn",
    "amqtt",
    "controller",
]
HEAVY_FOR_A_PI = [*CONTROLLER, "pydantic", "typer", "rich", "click", "httpx"]


def _loaded(code: str, names: list[str]) -> str:
    """Which of ``names`` the code imported; of the controller, its pure ``controller.domain``
    (the states and rules the operator CLI shares with it, stdlib only) does not count."""
    script = (
        f"{code}\nimport sys\n"
        f"print('LOADED', ','.join(m for m in {names!r} if m in sys.modules and (m != "
        f"'controller' or any(n.startswith('controller.') and not n.startswith("
        f"'controller.domain') for n in sys.modules))))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return out.stdout.strip().rsplit("LOADED", 1)[1].strip()


def test_the_agent_imports_nothing_a_pi_does_not_need():
    """``loalang-agent`` (what the systemd unit runs): no FastAPI, pydantic, Typer or httpx."""
    code = (
        "import edge_agent.__main__, edge_agent.agent, edge_agent.outputs.file, "
        "edge_agent.outputs.alsa, edge_agent.hardware.mcu, edge_agent.hardware.relay"
    )
    assert _loaded(code, HEAVY_FOR_A_PI) == ""


def test_the_agent_command_runs_without_the_operator_cli():
    out = subprocess.run(
        [sys.executable, "-m", "edge_agent", "run", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--config" in out.stdout


def test_the_operator_cli_imports_nothing_of_the_controller():
    assert _loaded("import loalang.cli", CONTROLLER) == ""
    code = (
        "sys.argv = ['loalang', 'agent', '--help']\nimport loalang.cli as c\ntry:\n"
        "    c.main()\nexcept SystemExit:\n    pass"
    )
    assert _loaded("import sys\n" + code, CONTROLLER) == ""


def test_the_agents_own_distribution_installs_without_the_controller(tmp_path):
    """What a Pi installs (install.sh, signed updates): a wheel of loalang-agent, with the
    agent, the wire contract and the serial bridge only, that runs in a clean virtualenv
    holding just its dependencies."""
    import zipfile

    from controller import edge_dist
    from edge_agent.update import Releases
    from tests.support.releases import dependencies_site

    wheel = edge_dist.wheel(tmp_path / "dist")
    assert wheel.name.startswith("loalang_agent-")
    tops = {n.split("/")[0] for n in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {
        "protocol",
        "edge_agent",
        "firmware_bridge",
    }
    release = Releases(tmp_path / "releases").install(
        wheel, "0.0.1", dependencies_site(tmp_path / "deps")
    )
    python = str(release / "bin" / "python")
    out = subprocess.run(
        [
            python,
            "-c",
            "import edge_agent.agent, edge_agent.outputs.alsa, edge_agent.update; "
            "import importlib.util as u; print(u.find_spec('controller'), u.find_spec('loalang'), "
            "u.find_spec('cryptography'))",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert out.stdout.split() == ["None", "None", "None"]
    help_ = subprocess.run(
        [str(release / "bin" / "loalang-agent"), "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert "run" in help_.stdout
