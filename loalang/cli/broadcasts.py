"""Bulletins: send, follow, cancel, stop, emergencies and approvals."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from controller.domain.broadcast import BroadcastState

from .common import (
    Bars,
    TokenOpt,
    UrlOpt,
    call,
    client_for,
    fail,
    follow,
    print_status,
    speak,
    targets_of,
)


def broadcast(
    what: str | None = typer.Argument(
        None, help="audio FILE to send, or 'status', 'cancel', 'list'; none with --text"
    ),
    broadcast_id: str | None = typer.Argument(None, help="broadcast id for status/cancel"),
    to: str | None = typer.Option(
        None, "--to", help="zone ids, zone:ID, device:ID or all; comma-separated"
    ),
    at: str | None = typer.Option(
        None, "--at", help="HH:MM, 'YYYY-MM-DD HH:MM', +10m or ISO; default now"
    ),
    priority: str = typer.Option("normal", help="background, normal, priority, emergency"),
    title: str | None = typer.Option(None),
    text: str | None = typer.Option(
        None,
        "--text",
        help="a text to read aloud instead of a "
        "file (numbers, dates, abbreviations read the Vietnamese way)",
    ),
    voice: str | None = typer.Option(
        None,
        "--voice",
        help="north, central, south, or a voice id (loalang speech voices); default: the station's",
    ),
    language: str = typer.Option("vi", "--language", help="language of --text"),
    wait: bool = typer.Option(False, "--wait", help="follow until every device has finished"),
    quiet_override: bool = typer.Option(
        False,
        "--quiet-override",
        help="play inside the quiet hours on purpose (logged; needs an approver)",
    ),
    repeat_every: float | None = typer.Option(
        None,
        "--repeat-every",
        help="play again every N minutes (each repeat says when it was issued)",
    ),
    repeat_for: float | None = typer.Option(
        None,
        "--repeat-for",
        help="for N minutes after the first; default: until cancelled (at most 24 h)",
    ),
    tz: str = typer.Option("Asia/Ho_Chi_Minh", help="time zone of --at"),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """Send a bulletin: ``loalang broadcast FILE --to thon-dong [--at 17:00]`` or
    ``loalang broadcast --text "..." --voice south --to thon-dong``;
    follow it: ``loalang broadcast status ID``."""
    client = client_for(url, token)
    if what in ("status", "cancel"):
        if not broadcast_id:
            fail(f"usage: loalang broadcast {what} ID")
        if what == "cancel":
            print_status(call(client.post, f"/api/broadcasts/{broadcast_id}/cancel"))
            return
        follow(client, broadcast_id, wait)
        return
    if what == "list":
        for b in call(client.get, "/api/broadcasts"):
            print_status(b)
        return
    if (what is None) == (text is None):
        fail("Một tệp hoặc --text / a FILE or --text")
    file = Path(what) if what else None
    if file is not None and not file.is_file():
        fail(f"Không thấy tệp / no such file: {file}")
    if not to:
        fail("Chọn nơi phát bằng --to / choose targets with --to")
    start_at = None
    if at:
        from datetime import datetime, timezone

        from ..timeparse import parse_when

        try:
            start_at = parse_when(at, datetime.now(timezone.utc), tz).isoformat()
        except ValueError as exc:
            fail(f"Thời gian sai / bad time: {exc}")
    if file is not None:
        bars = Bars(file.stat().st_size)
        media = call(client.upload, file, title, bars.sent, bars.progress)
    else:
        media = speak(client, text or "", voice, language, title)
    typer.echo(
        f"Đã tải lên / uploaded: {media['sha256'][:12]}… {media['duration_ms'] / 1000:.1f}s "
        f"{media['loudness_in_lufs']:.1f} → {media['loudness_out_lufs'] or 0:.1f} LUFS"
    )
    if media.get("loudness_warning"):
        typer.secho(
            "Cảnh báo / warning: âm lượng lệch mức chuẩn / loudness off target",
            fg=typer.colors.YELLOW,
            err=True,
        )
    b = call(
        client.post,
        "/api/broadcasts",
        {
            "media_sha256": media["sha256"],
            "targets": targets_of(to),
            "start_at": start_at,
            "priority": priority,
            "title": title or "",
            "quiet_override": quiet_override,
            **(
                {
                    "repeat_every_s": round(repeat_every * 60),
                    "repeat_for_s": round(repeat_for * 60) if repeat_for else None,
                }
                if repeat_every
                else {}
            ),
        },
    )
    typer.echo(f"Bản tin / broadcast {b['id']} — phát lúc / starts at {b['start_at']}")
    typer.echo(f"Theo dõi / follow: loalang broadcast status {b['id']} --wait")
    if wait:
        follow(client, b["id"], True)


def stop(
    to: str = typer.Option(..., "--to", help="zone ids, zone:ID, device:ID or all"),
    reason: str = typer.Option("", help="why (kept in the playback log)"),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """STOP: silence what plays now on the targets (signed; within a second)."""
    out = call(
        client_for(url, token).post, "/api/stop", {"targets": targets_of(to), "reason": reason}
    )
    typer.echo(
        f"Đã gửi lệnh dừng / STOP sent to {len(out['devices'])} device(s): "
        f"{', '.join(out['devices'])}"
    )


def emergency(
    text: str = typer.Option(..., "--text", help="the message, read aloud after the siren"),
    to: str = typer.Option("all", "--to", help="zone ids, zone:ID, device:ID or all"),
    title: str = typer.Option("Thông báo khẩn cấp", "--title"),
    intro: str = typer.Option("siren", "--intro", help="siren, chime or none"),
    voice: str | None = typer.Option(None, "--voice", help="a voice id; default the station's"),
    repeat_every: int | None = typer.Option(None, "--repeat-every", help="minutes"),
    repeat_for: int | None = typer.Option(
        None, "--repeat-for", help="minutes; default: until cancelled (at most 24 h)"
    ),
    wait: bool = typer.Option(False, "--wait", help="follow it until every device finished"),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """One action: siren, then the text read aloud, to every village; it waits for a second
    person (``loalang approvals --watch``), already on the loudspeakers."""
    client = client_for(url, token)
    b = call(
        client.post,
        "/api/emergencies",
        {
            "title": title,
            "targets": targets_of(to),
            "text": text,
            "voice": voice,
            "intro": intro,
            "repeat_every_min": repeat_every,
            "repeat_for_min": repeat_for,
        },
    )
    typer.secho(
        f"Khẩn cấp / emergency {b['id']}: chờ người thứ hai xác nhận / waiting for a "
        f"second person (loalang approvals confirm {b['id']})",
        fg=typer.colors.RED,
    )
    if wait:
        follow(client, b["id"], True)


def approvals(
    action: str | None = typer.Argument(None, help="'confirm' or 'approve' with an ID"),
    broadcast_id: str | None = typer.Argument(None),
    watch: bool = typer.Option(False, "--watch", help="keep watching; ring on a new one"),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """What waits for someone (emergencies first); ``confirm ID`` / ``approve ID``."""

    client = client_for(url, token)
    if action in ("confirm", "approve"):
        if not broadcast_id:
            fail(f"usage: loalang approvals {action} ID")
        print_status(call(client.post, f"/api/broadcasts/{broadcast_id}/{action}"))
        return
    if action is not None:
        fail("usage: loalang approvals [--watch] | confirm ID | approve ID")
    seen: set[str] = set()
    while True:
        held = [
            b
            for state in (BroadcastState.pending_confirmation, BroadcastState.pending_approval)
            for b in call(client.get, "/api/broadcasts", state=state)
            if b.get("repeat_index", 0) == 0
        ]
        for b in held:
            if b["id"] in seen:
                continue
            seen.add(b["id"])
            urgent = b["state"] == BroadcastState.pending_confirmation
            bell = "\a" if watch and urgent else ""  # the terminal rings for an emergency
            typer.secho(
                f"{bell}{'KHẨN CẤP / EMERGENCY' if urgent else 'chờ duyệt / to approve'}  "
                f"{b['id']}  {b['title']!r}  {', '.join(b['targets'])}  "
                f"by {b['created_by']}",
                fg=typer.colors.RED if urgent else None,
            )
        if not watch:
            if not held:
                typer.echo("Không có gì chờ duyệt / nothing waiting")
            return
        time.sleep(2)
