"""CAP 1.2 alerts: check, send, feeds."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import TokenOpt, UrlOpt, call, client_for, fail, settings_or_fail

cap_app = typer.Typer(
    help="Cảnh báo CAP 1.2 / CAP alerts from warning centres", no_args_is_help=True
)

CAP_CHECK_WORDS = {
    "sound": "SẼ PHÁT / WOULD SOUND",
    "log": "CHỈ GHI NHẬN, KHÔNG PHÁT / WOULD ONLY BE LOGGED",
    "cancel": "SẼ HUỶ CÁC CẢNH BÁO TRƯỚC / WOULD CANCEL EARLIER ALERTS",
    "refuse": "SẼ BỊ TỪ CHỐI / WOULD BE REFUSED",
}


@cap_app.command("check")
def cap_check(
    path: Path = typer.Argument(..., help="a CAP 1.2 XML file"),
    feed: str | None = typer.Option(
        None, help="judge it as this feed's (its test village; settings: cap_feeds)"
    ),
    at: str | None = typer.Option(None, help="judge it at this time (ISO 8601) instead of now"),
) -> None:
    """Check a CAP 1.2 alert and say what the controller would do with it now, with the
    station's rules (settings: cap_rules) — the same decision ``POST /api/cap`` takes.

    Exit codes: 0 would sound; 1 would be refused (malformed, expired); 3 would only be
    logged (a test, a system or draft message, a rule that ignores it); 4 would cancel
    earlier alerts."""
    from datetime import datetime

    from controller.cap.alert import CapInvalid, parse
    from controller.cap.decision import decide

    settings = settings_or_fail()
    if feed is not None and feed not in settings.cap_feeds:
        fail(
            f"--feed: no feed {feed!r} in the settings (cap_feeds: "
            f"{', '.join(settings.cap_feeds) or 'none'})"
        )
    try:
        when = datetime.fromisoformat(at) if at else datetime.now().astimezone()
    except ValueError:
        fail(f"--at: not an ISO 8601 time: {at!r}")
    if when.tzinfo is None:
        fail("--at: give an offset (e.g. 2026-12-01T15:00:00+07:00)")
    try:
        alert = parse(path.read_bytes())
    except OSError as exc:
        fail(f"Không đọc được tệp / cannot read: {exc}")
    except CapInvalid as exc:
        typer.secho(
            f"{CAP_CHECK_WORDS['refuse']}: không hợp lệ / invalid: {exc.where}: {exc.problem}",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(1) from None
    test_zone = settings.cap_feeds[feed].test_zone if feed else None
    decision = decide(alert, when, settings.cap_rules, test_zone)
    typer.echo(
        f"{alert.identifier} từ / from {alert.sender}, {alert.sent.isoformat()}, "
        f"{alert.status} {alert.msg_type}"
    )
    for ref in alert.references:
        typer.echo(f"  thay cho / references {ref[1]} ({ref[0]}, {ref[2]})")
    info = decision.info
    if info is not None:
        rule = decision.rule
        typer.echo(
            f"  {info.language}: {info.headline or info.event} — {info.urgency}/"
            f"{info.severity}/{info.certainty}"
            + (f" → {rule.action}" if rule else "")
            + (
                f", lặp mỗi / every {rule.repeat_every_min} min"
                if rule and rule.repeat_every_min and not decision.test
                else ""
            )
        )
        if info.expires:
            typer.echo(f"  hết hạn / expires {info.expires.isoformat()}")
        for area in info.areas:
            what = (
                [f"geocode {n}={v}" for n, v in area.geocodes]
                + [f"polygon ({len(p)} points)" for p in area.polygons]
                + [f"circle {r:g} km" for _, _, r in area.circles]
            )
            typer.echo(f"  vùng / area: {area.description}: {', '.join(what) or '—'}")
        for resource in info.resources:
            typer.echo(
                f"  âm thanh / resource: {resource.mime} {resource.size or '?'} bytes"
                f"{' (inline, digest checked)' if resource.data is not None else ''}"
            )
    words = CAP_CHECK_WORDS[decision.verdict.value]
    how = {
        "emergency": "khẩn cấp, phát ngay / emergency, at once",
        "advisory": "thông báo ưu tiên / advisory",
        "test": f"thử tại / test in {test_zone}",
    }.get(decision.action, decision.reason)
    if decision.verdict.value == "sound":
        how += " — ở các thôn vùng cảnh báo phủ / in the villages its areas cover"
        if decision.cancels:
            how += "; huỷ các cảnh báo trước / cancels the alerts it updates"
    typer.secho(f"→ {words}: {how}", bold=True)
    raise typer.Exit(decision.verdict.exit_code)


@cap_app.command("send")
def cap_send(
    path: Path = typer.Argument(..., help="a CAP 1.2 XML file"),
    feed_token: str = typer.Option(
        ...,
        "--feed-token",
        envvar="LOALANG_CAP_TOKEN",
        help="the feed's token (settings: cap_feeds)",
    ),
    url: str | None = UrlOpt,
) -> None:
    """Post an alert to the controller as a feed would; prints what was done."""
    import os

    import httpx

    base = (url or os.environ.get("LOALANG_URL") or "http://127.0.0.1:8080").rstrip("/")
    try:
        r = httpx.post(
            f"{base}/api/cap",
            content=path.read_bytes(),
            timeout=120,
            headers={
                "Authorization": f"Bearer {feed_token}",
                "Content-Type": "application/cap+xml",
            },
        )
    except httpx.HTTPError as exc:
        fail(f"Không kết nối được bộ điều khiển / cannot reach the controller: {exc}")
    if r.status_code >= 400:
        error = (
            r.json().get("error", {})
            if r.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        fail(f"Lỗi / error {r.status_code}: {error.get('message', r.text[:300])}")
    out = r.json()
    typer.echo(
        f"{out['action']}{' (đã nhận trước đó / seen before)' if out['duplicate'] else ''}"
        f" → {out['broadcast_id'] or '—'} {', '.join(out['zones'])}"
    )


@cap_app.command("feeds")
def cap_feeds(url: str | None = UrlOpt, token: str | None = TokenOpt) -> None:
    """The station's CAP feeds: how each one arrives and what its last read found."""
    for feed in call(client_for(url, token).get, "/api/cap/feeds"):
        ways = [
            w for w in ("POST /api/cap" if feed["post"] else None, feed["folder"], feed["url"]) if w
        ]
        typer.echo(f"{feed['name']} ({feed['policy']}): {' | '.join(ways)}")
        if feed["folder"] or feed["url"]:
            typer.echo(
                f"  đọc lần cuối / last read: {feed['polled_at'] or '—'} · nhận / read "
                f"{feed['received']} · từ chối / refused {feed['refused']}"
            )
        if feed["last_error"]:
            typer.secho(
                f"  lỗi / error ({feed['last_error_at']}): {feed['last_error']}",
                fg=typer.colors.RED,
            )
