"""The agent must not drag the controller's dependencies onto a Raspberry Pi."""

import subprocess
import sys

HEAVY = ["fastapi", "starlette", "sqlalchemy", "alembic", "apscheduler", "uvicorn", "amqtt",
         "controller"]


def test_agent_and_cli_import_nothing_of_the_controller():
    code = (
        "import sys, edge_agent.agent, edge_agent.outputs.file, edge_agent.outputs.alsa, loalang.cli;"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_agent_command_help_runs_without_the_controller():
    code = ("import sys; sys.argv = ['loalang', 'agent', '--help'];"
            "import loalang.cli as c\ntry:\n    c.main()\nexcept SystemExit:\n    pass\n"
            f"print('LOADED', ','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "--config" in out.stdout and out.stdout.strip().endswith("LOADED")
