"""The controller's signing key: status, the next key, promotion."""

from __future__ import annotations

from typing import Any

import typer

from .common import TokenOpt, UrlOpt, call, client_for

keys_app = typer.Typer(help="Khóa ký lệnh / the controller's signing key", no_args_is_help=True)


def _print_keys(k: dict[str, Any]) -> None:
    typer.echo(f"đang ký / signing:  {k['active']}")
    typer.echo(f"khóa mới / next:    {k['next'] or '-'}")
    if k["retired"]:
        typer.echo(f"đã bỏ / retired:    {', '.join(k['retired'])}")
    if k["next"]:
        typer.echo(
            f"thiết bị đã nhận / ready: {len(k['devices_ready'])}, "
            f"chưa nhận / waiting: {len(k['devices_waiting'])} "
            f"{' '.join(k['devices_waiting'][:20])}"
        )


@keys_app.command("status")
def keys_status(url: str | None = UrlOpt, token: str | None = TokenOpt) -> None:
    """Which key signs, the next one, and which devices have it."""
    _print_keys(call(client_for(url, token).get, "/api/keys"))


@keys_app.command("next")
def keys_next(url: str | None = UrlOpt, token: str | None = TokenOpt) -> None:
    """Make the next key and tell every device to trust it (signed with the current one)."""
    _print_keys(call(client_for(url, token).post, "/api/keys/next", {}))


@keys_app.command("promote")
def keys_promote(
    force: bool = typer.Option(
        False,
        "--force",
        help="although some devices have not acknowledged it (they must be re-enrolled)",
    ),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """The next key signs from now on; the old one is retired on every device."""
    _print_keys(call(client_for(url, token).post, "/api/keys/promote", {"force": force}))
