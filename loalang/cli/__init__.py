"""The ``loalang`` command: one module per command group, each imported only when its commands
run (``loalang broadcast`` never imports the controller; a Pi with only the agent installed
never imports FastAPI)."""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer.core import TyperGroup

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module in loalang.cli, its Typer app or command function)
    "controller": ("run", "controller"),
    "agent": ("run", "agent"),
    "demo": ("run", "demo"),
    "broadcast": ("broadcasts", "broadcast"),
    "stop": ("broadcasts", "stop"),
    "emergency": ("broadcasts", "emergency"),
    "approvals": ("broadcasts", "approvals"),
    "media": ("media", "media_app"),
    "speech": ("media", "speech_app"),
    "schedules": ("schedules", "schedules_app"),
    "zone": ("fleet", "zone_app"),
    "device": ("fleet", "device_app"),
    "alarms": ("fleet", "alarms_app"),
    "report": ("report", "report"),
    "archive": ("archive", "archive_app"),
    "cap": ("cap", "cap_app"),
    "user": ("users", "user_app"),
    "keys": ("keys", "keys_app"),
    "release": ("releases", "release_app"),
    "rollout": ("releases", "rollout_app"),
}


def command(name: str) -> Any:
    """The Click command of one group or command, its module imported now."""
    module, attr = COMMANDS[name]
    found: Any = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    holder = typer.Typer(add_completion=False)
    if isinstance(found, typer.Typer):  # a group (kept one even with a single command)
        holder.add_typer(found, name=name)
    else:  # a command function
        holder.command(name=name)(found)
        holder.command(name="_")(lambda: None)  # (two commands: Typer keeps the group)
    group: Any = typer.main.get_command(holder)
    return group.commands[name]


class LazyGroup(TyperGroup):
    """Lists every command, imports only the one asked for (Typer's own Click group)."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        return command(cmd_name) if cmd_name in COMMANDS else None


cli = LazyGroup(
    name="loalang",
    help="Loa Làng — đài truyền thanh thông minh / commune IP radio",
    no_args_is_help=True,
)


def main() -> None:
    cli(prog_name="loalang")
