"""The archive: export a period as a signed ZIP, and check one (as a province would)."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import TokenOpt, UrlOpt, call, client_for, fail

archive_app = typer.Typer(help="Lưu trữ / the archive of what aired", no_args_is_help=True)


@archive_app.command("export")
def archive_export(
    start: str = typer.Option(..., "--from", help="start, station time (2026-12-07T06:00)"),
    end: str = typer.Option(..., "--to", help="end, exclusive"),
    out: Path = typer.Option(..., "--out", "-o", help="the ZIP to write"),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """The period's recordings, bulletins and playback log, signed by the station."""
    data = call(
        client_for(url, token).get_bytes, "/api/archive/export", **{"from": start, "to": end}
    )
    out.write_bytes(data)
    typer.echo(f"{out} ({len(data) / 1e6:.1f} MB)")


@archive_app.command("verify")
def archive_verify(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="an exported ZIP"),
    key: str | None = typer.Option(
        None, "--key", help="the station's public key (base64), as the station gave it"
    ),
) -> None:
    """Check the station's signature and every file of an export; exit 1 if anything fails."""
    from controller.channel.seal import verify_zip
    from protocol.keys import PublicKey

    try:
        trusted = PublicKey.from_text(key) if key else None
    except ValueError:
        fail("khóa không hợp lệ / not a public key (base64 of 32 bytes)")
        return
    check = verify_zip(path, trusted)
    for problem in check.problems:
        typer.echo(f"  ✗ {problem}")
    if not check.ok:
        fail(f"KHÔNG HỢP LỆ / NOT VALID: {path}")
    typer.echo(
        f"HỢP LỆ / VALID: {check.files} tệp / files, {check.station}, khóa / key {check.kid}"
    )
    if trusted is None:
        typer.echo(
            "  (checked with the key the ZIP names: compare it with the station's own — "
            "loalang keys status — or pass --key)"
        )
