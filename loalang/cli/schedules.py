"""Schedules as code: check, plan, apply, export."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import TokenOpt, UrlOpt, call, client_for

schedules_app = typer.Typer(help="Lịch phát / schedules as code", no_args_is_help=True)


def _load_schedules(path: Path):  # type: ignore[no-untyped-def]
    from controller.schedules.files import ScheduleFileError, load

    try:
        return load(path)
    except ScheduleFileError as exc:
        for message in exc.messages:
            typer.secho(message, fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None


def _controller_facts(url: str | None, token: str | None):  # type: ignore[no-untyped-def]
    """Media durations and zone membership from a running controller, when one is named."""
    from controller.schedules.targets import Fleet

    if not url:
        return None, None
    client = client_for(url, token)
    media = {m["sha256"]: m["duration_ms"] for m in call(client.get, "/api/media")}
    zones: dict[str, set[str]] = {}
    for device in call(client.get, "/api/devices"):
        for zone in device["zones"]:
            zones.setdefault(zone, set()).add(device["id"])
    return media, Fleet({z: frozenset(d) for z, d in zones.items()})


@schedules_app.command("check")
def schedules_check(
    path: Path = typer.Argument(..., help="a schedule file or a folder of them"),
    days: int = typer.Option(14, help="how far ahead to look for clashes"),
    url: str | None = typer.Option(
        None, "--url", help="also check media and zones against this controller"
    ),
    token: str | None = TokenOpt,
) -> None:
    """Check schedule files; exit code 1 on any problem (usable in CI)."""
    from datetime import datetime, timedelta, timezone

    from controller.schedules.checks import check

    loaded = _load_schedules(path)
    media, fleet = _controller_facts(url, token)
    problems = check(
        loaded.schedules,
        now=datetime.now(timezone.utc),
        horizon=timedelta(days=days),
        media_ms=media,
        fleet=fleet,
    )
    for problem in problems:
        typer.secho(loaded.locate(problem), fg=typer.colors.RED, err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(
        f"OK: {len(loaded.schedules.schedules)} lịch / schedules"
        + ("" if url else " (media and zones not checked: no --url)")
    )


@schedules_app.command("plan")
def schedules_plan(
    path: Path = typer.Argument(..., help="a schedule file or a folder of them"),
    days: int = typer.Option(7),
    zone: str | None = typer.Option(None, "--zone", help="only what reaches this zone"),
    url: str | None = typer.Option(None, "--url"),
    token: str | None = TokenOpt,
) -> None:
    """What plays when and where for the next days, and what preempts what."""
    from datetime import datetime, timedelta, timezone

    from controller.schedules.checks import preview

    loaded = _load_schedules(path)
    media, fleet = _controller_facts(url, token)
    now = datetime.now(timezone.utc)
    from controller.schedules.model import RelayItem, TextItem

    rows = preview(loaded.schedules, now, now + timedelta(days=days), media, fleet)
    unknown = {
        s.name
        for s in loaded.schedules.schedules  # lengths not known here: "+?"
        if any(
            isinstance(i, TextItem)
            and i.media is None
            or media is None
            and not isinstance(i, RelayItem)
            for i in s.programme
        )
    }
    weekday = ["T2", "T3", "T4", "T5", "T6", "T7", "CN"]  # Thứ Hai … Chủ nhật
    for row in rows:
        o = row.occurrence
        if zone and not any(t in ("all", f"zone:{zone}") for t in o.targets):
            continue
        length = o.end - o.start
        cut = f"  ⇢ cắt ngang / preempts {', '.join(row.preempts)}" if row.preempts else ""
        minutes = f"{int(length.total_seconds()) // 60}{'+?' if o.schedule in unknown else ''}"
        typer.echo(
            f"{weekday[o.local_start.weekday()]} {o.local_start:%Y-%m-%d %H:%M}  "
            f"{minutes:>5} min  "
            f"{o.priority:<9} {o.schedule:<24} → {', '.join(o.targets)}{cut}"
        )


@schedules_app.command("apply")
def schedules_apply(
    path: Path = typer.Argument(..., help="a schedule file or a folder of them"),
    dry_run: bool = typer.Option(False, "--dry-run", help="show the diff, change nothing"),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """Make the controller's schedules equal to the files (a schedule removed from the files is
    removed from the controller). Idempotent; nothing changes if any check fails."""
    loaded = _load_schedules(path)
    result = call(
        client_for(url, token).put,
        "/api/schedules",
        loaded.schedules.model_dump(mode="json"),
        {"dry_run": dry_run},
        (422,),
    )
    for problem in result["problems"]:
        from controller.schedules.checks import Problem

        typer.secho(loaded.locate(Problem(**problem)), fg=typer.colors.RED, err=True)
    for sign, key in (("+", "added"), ("~", "changed"), ("-", "removed")):
        for name in result[key]:
            typer.echo(f"{sign} {name}  ({loaded.where.get(name, 'controller')})")
    if result["settings_changed"]:
        typer.echo("~ timezone / quiet hours")
    if result["problems"]:
        raise typer.Exit(1)
    if not any(result[k] for k in ("added", "changed", "removed", "settings_changed")):
        typer.echo("Không có thay đổi / no changes")
    elif dry_run:
        typer.echo("(dry run: nothing changed)")
    else:
        typer.echo("Đã áp dụng / applied")


@schedules_app.command("export")
def schedules_export(
    out: Path | None = typer.Option(None, "--out", help="file to write"),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """Write the controller's schedules as a schedule file (YAML)."""
    import yaml

    data = call(client_for(url, token).get, "/api/schedules")
    text = "# Exported from the Loa Làng controller\n" + yaml.safe_dump(
        data, allow_unicode=True, sort_keys=False, default_flow_style=False
    )
    if out:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"Đã ghi / written: {out}")
    else:
        typer.echo(text, nl=False)
