"""What every command group shares: the controller's address and token, one-line failures,
progress bars, targets, a broadcast's status."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import typer

UrlOpt = typer.Option(None, "--url", help="Controller URL (env LOALANG_URL)")

TokenOpt = typer.Option(None, "--token", help="API token (env LOALANG_TOKEN)")


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        for noisy in ("amqtt", "transitions", "alembic", "httpx", "apscheduler"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def client_for(url: str | None, token: str | None):  # type: ignore[no-untyped-def]
    from ..client import Client

    return Client(url, token)


def fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def call(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    import httpx

    from ..client import ApiFailure

    try:
        return fn(*args, **kwargs)
    except ApiFailure as exc:
        fail(f"Lỗi / error: {exc}")
    except httpx.ConnectError as exc:
        fail(f"Không kết nối được bộ điều khiển / cannot reach the controller: {exc}")


def local_sessions():  # type: ignore[no-untyped-def]
    """The controller's database, from the same LOALANG_* settings as ``loalang controller``."""
    from controller.db.session import make_engine, make_sessionmaker, migrate

    settings = settings_or_fail()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    return make_sessionmaker(engine)


STAGES = {
    "queued": "chờ / queued",
    "starting": "bắt đầu / starting",
    "measuring": "đo âm lượng / measuring",
    "speaking": "đọc văn bản / speaking",
    "encoding": "mã hoá / encoding",
    "checking": "kiểm tra / checking",
    "done": "xong / done",
}


class Bars:
    """Two progress bars on the terminal: bytes sent, then the controller's processing."""

    def __init__(self, size: int | None):
        self._size = size
        self._upload = (
            typer.progressbar(length=size, label="Tải lên / upload    ", show_pos=False)
            if size
            else None
        )
        self._sent = 0
        self._work: Any = None
        self._done = 0

    def sent(self, total: int) -> None:
        if self._upload is not None:
            self._upload.update(max(0, min(total, self._size or 0) - self._sent))
            self._sent = min(total, self._size or 0)

    def progress(self, stage: str, fraction: float) -> None:
        if self._upload is not None:
            self._upload.render_finish()
            self._upload = None
        if self._work is None:
            self._work = typer.progressbar(
                length=100, label="Xử lý / processing  ", show_percent=True
            )
        step = round(fraction * 100) - self._done
        if step > 0:
            self._work.update(step)
            self._done += step
        self._work.label = f"{STAGES.get(stage, stage):<20}"
        if fraction >= 1.0:
            self._work.render_finish()


def speak(
    client: Any, text: str, voice: str | None, language: str, title: str | None
) -> dict[str, Any]:
    part: dict[str, Any] = {"language": language, "text": text}
    if voice:
        part["voice"] = voice if ":" in voice else f"espeak:{VOICE_ALIASES.get(voice, voice)}"
    job = call(client.post, "/api/speech", {"title": title or "", "parts": [part]})
    bars = Bars(None)
    return call(client.wait_job, job, bars.progress)


VOICE_ALIASES = {
    "north": "vi",
    "bac": "vi",
    "central": "vi-vn-x-central",
    "trung": "vi-vn-x-central",
    "south": "vi-vn-x-south",
    "nam": "vi-vn-x-south",
}


def targets_of(text: str) -> list[str]:
    out = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        out.append(part if part == "all" or ":" in part else f"zone:{part}")
    return out


def print_status(b: dict[str, Any]) -> None:
    counts = {k: v for k, v in b["summary"].items() if v}
    typer.echo(
        f"{b['id']}  {b['title']!r}  {b['state']}  start {b['start_at']}  "
        f"{json.dumps(counts)}  skew_ms={b.get('start_skew_ms')}"
    )
    for d in b["deliveries"]:
        offset = d.get("start_offset_ms")
        extra = f" start_offset_ms={offset}" if offset is not None else ""
        reason = f" ({d['reason']})" if d.get("reason") else ""
        typer.echo(
            f"  {d['device_id']:<16} {d['state']:<12} device={d.get('device_status')}"
            f"{extra}{reason}"
        )


def follow(client, broadcast_id: str, wait: bool) -> None:  # type: ignore[no-untyped-def]
    while True:
        b = call(client.get, f"/api/broadcasts/{broadcast_id}")
        if not wait or b["settled"]:  # every device's delivery has ended (the controller's rule)
            print_status(b)
            return
        counts = {k: v for k, v in b["summary"].items() if v}
        typer.echo(f"… {json.dumps(counts)}")
        time.sleep(1)


def settings_or_fail(**values: Any) -> Any:
    """The controller's settings (``LOALANG_*``, ``.env``), or one line per problem and exit 1:
    a mistyped variable names the closest known one."""
    from pydantic import ValidationError

    from controller.settings import Settings, unknown_variables

    try:
        return Settings(**values)
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ()))
            message = str(error.get("msg", "")).removeprefix("Value error, ")
            if error.get("type") == "extra_forbidden" and where.upper().startswith("LOALANG_"):
                where, message = "", unknown_variables({where.upper(): ""})[0]  # a .env line
            typer.secho(
                f"settings: {where + ': ' if where else ''}{message}", err=True, fg=typer.colors.RED
            )
        raise typer.Exit(1) from None
