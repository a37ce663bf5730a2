"""Villages, devices and their alarms."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import TokenOpt, UrlOpt, call, client_for

zone_app = typer.Typer(help="Thôn, khu vực / zones", no_args_is_help=True)

device_app = typer.Typer(help="Thiết bị / devices", no_args_is_help=True)

alarms_app = typer.Typer(help="Cảnh báo thiết bị / device alarms", invoke_without_command=True)


@zone_app.command("add")
def zone_add(
    zone_id: str, name: str, url: str | None = UrlOpt, token: str | None = TokenOpt
) -> None:
    """Add a zone (village)."""
    out = call(client_for(url, token).post, "/api/zones", {"id": zone_id, "name": name})
    typer.echo(f"{out['id']}: {out['name']}")


@zone_app.command("list")
def zone_list(url: str | None = UrlOpt, token: str | None = TokenOpt) -> None:
    for z in call(client_for(url, token).get, "/api/zones"):
        typer.echo(f"{z['id']:<20} {z['device_count']:>3} thiết bị  {z['name']}")


@device_app.command("register")
def device_register(
    device_id: str,
    name: str = typer.Option(..., help="human name, e.g. 'Cụm loa nhà văn hoá thôn Đông'"),
    zone: list[str] = typer.Option([], "--zone", "-z"),
    output: str = typer.Option("alsa", help="alsa (Pi) or file (tests, demo)"),
    config_out: Path | None = typer.Option(None, "--config-out", help="write agent config here"),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """Register a device and print (or write) its agent config file."""
    out = call(
        client_for(url, token).post,
        "/api/devices",
        {"id": device_id, "name": name, "zones": zone, "output": output},
    )
    if config_out:
        config_out.touch(mode=0o600)
        config_out.write_text(out["config_toml"])
        typer.echo(f"Đã ghi cấu hình / config written: {config_out}")
    else:
        typer.echo(out["config_toml"])


@device_app.command("list")
def device_list(url: str | None = UrlOpt, token: str | None = TokenOpt) -> None:
    """Devices with status and last health."""
    for d in call(client_for(url, token).get, "/api/devices"):
        health = d.get("last_health") or {}
        hw = health.get("hardware") or {}
        net = health.get("network") or {}
        board = ""
        if hw:
            board = (
                f" board={'ok' if hw.get('connected') else 'UNREACHABLE'}"
                f" mains={'yes' if hw.get('mains') else 'NO'} battery_v={hw.get('battery_v')}"
                f" temp_c={hw.get('temperature_c')}"
                f" door={'OPEN' if hw.get('door_open') else 'shut'}"
            )
        lines = health.get("last_line_check")
        if lines:
            dead = lines.get("dead_channels") or []
            board += " lines=" + (
                "ok" if not dead else "DEAD " + ",".join(str(c + 1) for c in dead)
            )
        typer.echo(
            f"{d['id']:<16} {d['status']:<8} zones={','.join(d['zones']):<20} "
            f"seen={d.get('last_seen_at') or '-'} alarms={d.get('active_alarms', 0)} "
            f"link={net.get('type', '-')} load={health.get('load_1m', '-')} "
            f"disk_free_mb={health.get('disk_free_mb', '-')}{board}"
        )


@device_app.command("volume")
def device_volume(
    device_id: str,
    level: int = typer.Argument(..., min=0, max=100),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """Set a device's own volume in percent (kept by the agent across restarts)."""
    d = call(client_for(url, token).put, f"/api/devices/{device_id}/volume", {"level": level})
    typer.echo(f"{d['id']}: volume {d['volume']}%")


@alarms_app.callback()
def alarms_list(
    ctx: typer.Context,
    device: str | None = typer.Option(None, "--device"),
    all_: bool = typer.Option(False, "--all", help="include cleared and seen"),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """Open alarms (active or not yet acknowledged), newest first."""
    if ctx.invoked_subcommand is not None:
        return
    params = {"state": "all" if all_ else "open"}
    if device:
        params["device_id"] = device
    rows = call(client_for(url, token).get, "/api/alarms", **params)
    if not rows:
        typer.echo("Không có cảnh báo / no alarms")
    for a in rows:
        state = "ACTIVE" if a["cleared_at"] is None else f"cleared {a['cleared_at']}"
        seen = f"ack by {a['acknowledged_by']}" if a["acknowledged_at"] else "NOT ACKNOWLEDGED"
        typer.echo(
            f"#{a['id']:<5} {a['device_id']:<16} {a['key']:<18} {state:<10} "
            f"since {a['raised_at']}  x{a['occurrences']}  {seen}  {a['detail']}"
        )


@alarms_app.command("ack")
def alarms_ack(
    alarm_id: int,
    by: str = typer.Option(..., "--by", help="your name"),
    note: str = typer.Option("", "--note"),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """Acknowledge an alarm (it leaves the list once it has also cleared)."""
    a = call(client_for(url, token).post, f"/api/alarms/{alarm_id}/ack", {"by": by, "note": note})
    typer.echo(f"#{a['id']} {a['key']} acknowledged by {a['acknowledged_by']}")
