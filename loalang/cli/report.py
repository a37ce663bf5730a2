"""The station's monthly report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from .common import TokenOpt, UrlOpt, call, client_for, fail


def report(
    month: str | None = typer.Option(None, "--month", help="YYYY-MM (default: last month)"),
    fmt: str = typer.Option("pdf", "--format", help="pdf | csv | json"),
    kind: str = typer.Option("log", "--kind", help="CSV table: log | villages | equipment"),
    out: Path | None = typer.Option(None, "--out", "-o", help="file (default: a name for it)"),
    lang: str = typer.Option("vi", "--lang", help="vi | en"),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """Báo cáo tháng / the station's monthly report, for the province."""
    if fmt not in ("pdf", "csv", "json") or kind not in ("log", "villages", "equipment"):
        fail("--format: pdf | csv | json; --kind: log | villages | equipment")
    params: dict[str, Any] = {"lang": lang, **({"month": month} if month else {})}
    client = client_for(url, token)
    if fmt == "json":
        data = json.dumps(
            call(client.get, "/api/reports/station", **params), ensure_ascii=False, indent=2
        ).encode()
    elif fmt == "csv":
        data = call(client.get_bytes, "/api/reports/station.csv", kind=kind, **params)
    else:
        data = call(client.get_bytes, "/api/reports/station.pdf", **params)
    target = out or Path(
        f"bao-cao-{month or 'thang-truoc'}{'-' + kind if fmt == 'csv' else ''}.{fmt}"
    )
    target.write_bytes(data)
    typer.echo(f"Đã lưu / saved: {target} ({len(data):,} bytes)")
