"""Agent releases and their rollouts in waves."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer

from controller.domain.rollout import RolloutState

from .common import TokenOpt, UrlOpt, call, client_for, fail

release_app = typer.Typer(
    help="Bản phát hành phần mềm thiết bị / agent releases", no_args_is_help=True
)

rollout_app = typer.Typer(
    help="Cập nhật thiết bị theo đợt / agent rollouts in waves", no_args_is_help=True
)


@release_app.command("add")
def release_add(
    wheel: Path,
    notes: str = typer.Option("", "--notes"),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """Keep an agent release: a wheel built with ``loalang release build``."""
    if not wheel.is_file():
        fail(f"Không thấy tệp / no such file: {wheel}")
    out = call(client_for(url, token).post_file, "/api/releases", wheel, notes=notes)
    typer.echo(f"{out['version']}  sha256 {out['sha256']}  {out['size']} bytes")


@release_app.command("build")
def release_build(
    out: Path = typer.Option(Path("dist"), "--out", help="where the wheel is written"),
) -> None:
    """Build the agent's release from this source tree: a wheel of the loalang-agent
    distribution (the agent, the wire contract, the serial bridge; no controller code), its
    version the one in protocol/__init__.py."""
    from controller import edge_dist

    if not edge_dist.available():
        fail("Không có mã nguồn của thiết bị ở đây / no agent source tree here")
    typer.echo(str(edge_dist.wheel(out)))


@release_app.command("list")
def release_list(url: str | None = UrlOpt, token: str | None = TokenOpt) -> None:
    """The releases kept, newest first, with how many devices run each."""
    for r in call(client_for(url, token).get, "/api/releases"):
        typer.echo(
            f"{r['version']:<14} {r['devices_running']:>5} thiết bị / devices  "
            f"{r['sha256'][:16]}  {r['notes']}"
        )


def _print_rollout(r: dict[str, Any]) -> None:
    typer.echo(
        f"{r['id']}  {r['version']}  {r['state']}  đợt / wave {r['wave'] + 1}/"
        f"{r['waves']}  {json.dumps(r['counts'])}" + (f"  — {r['reason']}" if r["reason"] else "")
    )
    for t in r.get("targets", []):
        why = f"{t['reason']}: {t['detail']}" if t["detail"] else t["reason"]
        typer.echo(
            f"  {t['wave'] + 1}  {t['device_id']:<24} {t['state']:<12} "
            f"{t['from_version'] or '?'} → {t['running'] or '?'}  {why}"
        )


@rollout_app.command("start")
def rollout_start(
    version: str,
    zone: str | None = typer.Option(None, "--zone"),
    confirm_s: int = typer.Option(
        180, "--confirm-s", help="a device must be back online on the release this soon"
    ),
    wait: bool = typer.Option(False, "--wait", help="follow it to the end"),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """Send a release to the devices in waves (1 device, 10 %, all); stops on a failure."""
    client = client_for(url, token)
    r = call(
        client.post, "/api/rollouts", {"version": version, "zone_id": zone, "confirm_s": confirm_s}
    )
    while wait and r["state"] == RolloutState.running:
        time.sleep(2)
        r = call(client.get, f"/api/rollouts/{r['id']}")
    _print_rollout(r)
    if r["state"] == RolloutState.stopped:
        raise typer.Exit(1)


@rollout_app.command("show")
def rollout_show(
    rollout_id: str = typer.Argument("", help="default: the latest"),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """A rollout device by device (the latest one unless named)."""
    client = client_for(url, token)
    if not rollout_id:
        latest = call(client.get, "/api/rollouts")
        if not latest:
            fail("Chưa có đợt cập nhật nào / no rollout yet")
        rollout_id = latest[0]["id"]
    _print_rollout(call(client.get, f"/api/rollouts/{rollout_id}"))


@rollout_app.command("stop")
def rollout_stop(rollout_id: str, url: str | None = UrlOpt, token: str | None = TokenOpt) -> None:
    """Send nothing more (what was sent finishes or rolls back on its devices)."""
    _print_rollout(call(client_for(url, token).post, f"/api/rollouts/{rollout_id}/stop", {}))


@rollout_app.command("resume")
def rollout_resume(rollout_id: str, url: str | None = UrlOpt, token: str | None = TokenOpt) -> None:
    """Go on with a stopped rollout; its wave's failed devices are tried again."""
    _print_rollout(call(client_for(url, token).post, f"/api/rollouts/{rollout_id}/resume", {}))
