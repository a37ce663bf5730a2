"""The ``loalang`` command. Sub-commands import what they need lazily, so a Raspberry Pi with
only the agent installed never imports FastAPI."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(
    help="Loa Làng — đài truyền thanh thông minh / commune IP radio",
    no_args_is_help=True,
    add_completion=False,
)
device_app = typer.Typer(help="Thiết bị / devices", no_args_is_help=True)
zone_app = typer.Typer(help="Thôn, khu vực / zones", no_args_is_help=True)
media_app = typer.Typer(help="Tệp âm thanh / media", no_args_is_help=True)
app.add_typer(device_app, name="device")
app.add_typer(zone_app, name="zone")
schedules_app = typer.Typer(help="Lịch phát / schedules as code", no_args_is_help=True)
app.add_typer(media_app, name="media")
app.add_typer(schedules_app, name="schedules")
user_app = typer.Typer(
    help="Tài khoản / accounts (run on the controller machine)", no_args_is_help=True
)
app.add_typer(user_app, name="user")
alarms_app = typer.Typer(help="Cảnh báo thiết bị / device alarms", invoke_without_command=True)
app.add_typer(alarms_app, name="alarms")
speech_app = typer.Typer(help="Đọc văn bản / text to speech", no_args_is_help=True)
app.add_typer(speech_app, name="speech")
cap_app = typer.Typer(
    help="Cảnh báo CAP 1.2 / CAP alerts from warning centres", no_args_is_help=True
)
app.add_typer(cap_app, name="cap")
keys_app = typer.Typer(help="Khóa ký lệnh / the controller's signing key", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

release_app = typer.Typer(
    help="Bản phát hành phần mềm thiết bị / agent releases", no_args_is_help=True
)
app.add_typer(release_app, name="release")
rollout_app = typer.Typer(
    help="Cập nhật thiết bị theo đợt / agent rollouts in waves", no_args_is_help=True
)
app.add_typer(rollout_app, name="rollout")

UrlOpt = typer.Option(None, "--url", help="Controller URL (env LOALANG_URL)")
TokenOpt = typer.Option(None, "--token", help="API token (env LOALANG_TOKEN)")


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        for noisy in ("amqtt", "transitions", "alembic", "httpx", "apscheduler"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def _client(url: str | None, token: str | None):  # type: ignore[no-untyped-def]
    from .client import Client

    return Client(url, token)


def _fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def _call(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    import httpx

    from .client import ApiFailure

    try:
        return fn(*args, **kwargs)
    except ApiFailure as exc:
        _fail(f"Lỗi / error: {exc}")
    except httpx.ConnectError as exc:
        _fail(f"Không kết nối được bộ điều khiển / cannot reach the controller: {exc}")


# --- services ---------------------------------------------------------------------------------


@app.command()
def controller(verbose: bool = typer.Option(False, "-v")) -> None:
    """Run the controller (settings from LOALANG_* environment variables or .env)."""
    import signal
    import socket

    import uvicorn

    from controller.app import create_app
    from controller.container import Services
    from controller.server import https_server
    from controller.settings import Settings

    _logging(verbose)
    settings = Settings()
    services = Services(settings)
    services.start()
    app_ = create_app(services=services)
    https = https_server(app_, settings)  # the same app over TLS, for phones on the LAN

    def _exit(signum: int, frame: object) -> None:  # uvicorn re-raises SIGTERM as it exits:
        raise SystemExit(0)  # let it unwind through ``finally``, which stops the services

    signal.signal(signal.SIGTERM, _exit)
    try:
        if https is not None:
            https[0].start()
            typer.echo(
                f"HTTPS: https://{socket.gethostname()}:{settings.https_port}/ui/"
                + (f" (CA to trust on phones: {https[1].ca})" if https[1].ca else "")
            )
        uvicorn.run(
            app_,
            host=settings.http_host,
            port=settings.http_port,
            log_level="info" if verbose else "warning",
        )
    finally:
        if https is not None:
            https[0].stop()
        services.stop()


def _local_sessions():  # type: ignore[no-untyped-def]
    """The controller's database, from the same LOALANG_* settings as ``loalang controller``."""
    from controller.db.session import make_engine, make_sessionmaker, migrate
    from controller.settings import Settings

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    return make_sessionmaker(engine)


@user_app.command("add")
def user_add(
    username: str,
    role: list[str] = typer.Option(
        ...,
        "--role",
        "-r",
        help="broadcaster, approver, technician, admin, province "
        "(the provincial system's export token; repeatable)",
    ),
    display_name: str = typer.Option("", "--display-name"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="read the password from standard input"
    ),
) -> None:
    """Create an account (the first admin too). There is no default password: you choose it."""
    import sys

    from controller.auth import Role
    from controller.domain.errors import DomainError
    from controller.services.accounts import create_user

    try:
        roles = [Role(r) for r in role]
    except ValueError:
        _fail(
            f"Vai trò không hợp lệ / unknown role: {', '.join(role)} "
            f"(broadcaster, approver, technician, admin, province)"
        )
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Mật khẩu / password", hide_input=True, confirmation_prompt=True)
    try:
        create_user(_local_sessions(), username, password, roles, display_name)
    except ValueError as exc:
        _fail(f"Không tạo được / not created: {exc}")
    except DomainError as exc:
        _fail(f"Không tạo được / not created: {exc.key}")
    typer.echo(f"Đã tạo / created: {username} ({', '.join(r.value for r in roles)})")


@user_app.command("token")
def user_token(username: str, name: str = typer.Option("cli", "--name")) -> None:
    """Issue a personal API token for the CLI (printed once; export it as LOALANG_TOKEN)."""
    from controller.domain.errors import DomainError
    from controller.services.accounts import issue_token

    try:
        _, token = issue_token(_local_sessions(), username, name)
    except DomainError as exc:
        _fail(f"{exc.key}: {username}")
    typer.echo(token)


@app.command()
def agent(
    config: Path = typer.Option(..., "--config", "-c", help="agent TOML file"),
    verbose: bool = typer.Option(False, "-v"),
) -> None:
    """Run the edge agent (a Pi runs ``loalang-agent run``, which is this without Typer)."""
    from edge_agent.__main__ import run

    raise typer.Exit(run(config, verbose))


@app.command()
def demo(
    data_dir: Path = typer.Option(Path("loalang-demo"), help="where the demo keeps its state"),
    http_port: int | None = typer.Option(
        None, help="web UI and API [default: 8080, or a free port if taken]"
    ),
    https_port: int | None = typer.Option(
        None,
        help="the web UI over HTTPS for phones; 0: none [default: 8443, or a free port if taken]",
    ),
    mqtt_port: int | None = typer.Option(
        None, help="the demo's MQTT broker [default: 18830, or a free port if taken]"
    ),
    icecast_port: int | None = typer.Option(
        None, help="live voices and relays [default: 8000, or a free port if taken]"
    ),
    broker: str = typer.Option(
        "auto",
        help="auto: a Mosquitto of its own when installed, "
        "else the embedded amqtt (trying out only); mosquitto; "
        "embedded; external (one already on --mqtt-port)",
    ),
    verbose: bool = typer.Option(False, "-v"),
) -> None:
    """Controller + MQTT broker + three simulated village agents, on SQLite. A port given
    must be free; one not given is the usual one, or a free one if that is taken."""
    from controller.broker.mosquitto import mosquitto_binary

    from .demo import DemoPorts, run_demo

    _logging(verbose)
    if broker == "auto":
        broker = "mosquitto" if mosquitto_binary() else "embedded"
    if broker not in ("mosquitto", "embedded", "external"):
        _fail(f"--broker: auto, mosquitto, embedded or external, not {broker!r}")
    try:
        run_demo(
            data_dir=data_dir,
            ports=DemoPorts(http_port, https_port, mqtt_port, icecast_port),
            broker=broker,
        )
    except RuntimeError as exc:  # a port taken, a broker that would not start: one line
        _fail(f"loalang demo: {exc}")


# --- operator commands --------------------------------------------------------------------------


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
    _print_keys(_call(_client(url, token).get, "/api/keys"))


@keys_app.command("next")
def keys_next(url: str | None = UrlOpt, token: str | None = TokenOpt) -> None:
    """Make the next key and tell every device to trust it (signed with the current one)."""
    _print_keys(_call(_client(url, token).post, "/api/keys/next", {}))


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
    _print_keys(_call(_client(url, token).post, "/api/keys/promote", {"force": force}))


@release_app.command("add")
def release_add(
    wheel: Path,
    notes: str = typer.Option("", "--notes"),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """Keep an agent release: a wheel built with ``pip wheel --no-deps -w dist .``."""
    if not wheel.is_file():
        _fail(f"Không thấy tệp / no such file: {wheel}")
    out = _call(_client(url, token).post_file, "/api/releases", wheel, notes=notes)
    typer.echo(f"{out['version']}  sha256 {out['sha256']}  {out['size']} bytes")


@release_app.command("list")
def release_list(url: str | None = UrlOpt, token: str | None = TokenOpt) -> None:
    """The releases kept, newest first, with how many devices run each."""
    for r in _call(_client(url, token).get, "/api/releases"):
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
    client = _client(url, token)
    r = _call(
        client.post, "/api/rollouts", {"version": version, "zone_id": zone, "confirm_s": confirm_s}
    )
    while wait and r["state"] == "running":
        time.sleep(2)
        r = _call(client.get, f"/api/rollouts/{r['id']}")
    _print_rollout(r)
    if r["state"] == "stopped":
        raise typer.Exit(1)


@rollout_app.command("show")
def rollout_show(
    rollout_id: str = typer.Argument("", help="default: the latest"),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """A rollout device by device (the latest one unless named)."""
    client = _client(url, token)
    if not rollout_id:
        latest = _call(client.get, "/api/rollouts")
        if not latest:
            _fail("Chưa có đợt cập nhật nào / no rollout yet")
        rollout_id = latest[0]["id"]
    _print_rollout(_call(client.get, f"/api/rollouts/{rollout_id}"))


@rollout_app.command("stop")
def rollout_stop(rollout_id: str, url: str | None = UrlOpt, token: str | None = TokenOpt) -> None:
    """Send nothing more (what was sent finishes or rolls back on its devices)."""
    _print_rollout(_call(_client(url, token).post, f"/api/rollouts/{rollout_id}/stop", {}))


@rollout_app.command("resume")
def rollout_resume(rollout_id: str, url: str | None = UrlOpt, token: str | None = TokenOpt) -> None:
    """Go on with a stopped rollout; its wave's failed devices are tried again."""
    _print_rollout(_call(_client(url, token).post, f"/api/rollouts/{rollout_id}/resume", {}))


@zone_app.command("add")
def zone_add(
    zone_id: str, name: str, url: str | None = UrlOpt, token: str | None = TokenOpt
) -> None:
    """Add a zone (village)."""
    out = _call(_client(url, token).post, "/api/zones", {"id": zone_id, "name": name})
    typer.echo(f"{out['id']}: {out['name']}")


@zone_app.command("list")
def zone_list(url: str | None = UrlOpt, token: str | None = TokenOpt) -> None:
    for z in _call(_client(url, token).get, "/api/zones"):
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
    out = _call(
        _client(url, token).post,
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
    for d in _call(_client(url, token).get, "/api/devices"):
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
    d = _call(_client(url, token).put, f"/api/devices/{device_id}/volume", {"level": level})
    typer.echo(f"{d['id']}: volume {d['volume']}%")


@app.command()
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
        _fail("--format: pdf | csv | json; --kind: log | villages | equipment")
    params: dict[str, Any] = {"lang": lang, **({"month": month} if month else {})}
    client = _client(url, token)
    if fmt == "json":
        data = json.dumps(
            _call(client.get, "/api/reports/station", **params), ensure_ascii=False, indent=2
        ).encode()
    elif fmt == "csv":
        data = _call(client.get_bytes, "/api/reports/station.csv", kind=kind, **params)
    else:
        data = _call(client.get_bytes, "/api/reports/station.pdf", **params)
    target = out or Path(
        f"bao-cao-{month or 'thang-truoc'}{'-' + kind if fmt == 'csv' else ''}.{fmt}"
    )
    target.write_bytes(data)
    typer.echo(f"Đã lưu / saved: {target} ({len(data):,} bytes)")


@app.command()
def stop(
    to: str = typer.Option(..., "--to", help="zone ids, zone:ID, device:ID or all"),
    reason: str = typer.Option("", help="why (kept in the playback log)"),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """STOP: silence what plays now on the targets (signed; within a second)."""
    out = _call(_client(url, token).post, "/api/stop", {"targets": _targets(to), "reason": reason})
    typer.echo(
        f"Đã gửi lệnh dừng / STOP sent to {len(out['devices'])} device(s): "
        f"{', '.join(out['devices'])}"
    )


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
    rows = _call(_client(url, token).get, "/api/alarms", **params)
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
    a = _call(_client(url, token).post, f"/api/alarms/{alarm_id}/ack", {"by": by, "note": note})
    typer.echo(f"#{a['id']} {a['key']} acknowledged by {a['acknowledged_by']}")


STAGES = {
    "queued": "chờ / queued",
    "starting": "bắt đầu / starting",
    "measuring": "đo âm lượng / measuring",
    "speaking": "đọc văn bản / speaking",
    "encoding": "mã hoá / encoding",
    "checking": "kiểm tra / checking",
    "done": "xong / done",
}


class _Bars:
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


@media_app.command("upload")
def media_upload(
    file: Path, title: str | None = None, url: str | None = UrlOpt, token: str | None = TokenOpt
) -> None:
    """Upload a bulletin (progress shown); prints its id (sha256), length and loudness."""
    if not file.is_file():
        _fail(f"Không thấy tệp / no such file: {file}")
    bars = _Bars(file.stat().st_size)
    m = _call(_client(url, token).upload, file, title, bars.sent, bars.progress)
    typer.echo(json.dumps(m, ensure_ascii=False, indent=1))


def _speak(
    client: Any, text: str, voice: str | None, language: str, title: str | None
) -> dict[str, Any]:
    part: dict[str, Any] = {"language": language, "text": text}
    if voice:
        part["voice"] = voice if ":" in voice else f"espeak:{VOICE_ALIASES.get(voice, voice)}"
    job = _call(client.post, "/api/speech", {"title": title or "", "parts": [part]})
    bars = _Bars(None)
    return _call(client.wait_job, job, bars.progress)


VOICE_ALIASES = {
    "north": "vi",
    "bac": "vi",
    "central": "vi-vn-x-central",
    "trung": "vi-vn-x-central",
    "south": "vi-vn-x-south",
    "nam": "vi-vn-x-south",
}


@speech_app.command("voices")
def speech_voices(url: str | None = UrlOpt, token: str | None = TokenOpt) -> None:
    """The voices the controller can read with (the station's default is marked)."""
    for v in _call(_client(url, token).get, "/api/speech/voices"):
        mark = "*" if v["default"] else " "
        typer.echo(f"{mark} {v['id']:<26} {v['language']:<4} {v['name_vi']} / {v['name_en']}")


@speech_app.command("said")
def speech_said(text: str, url: str | None = UrlOpt, token: str | None = TokenOpt) -> None:
    """How a text will be read aloud: numbers, dates, units and abbreviations in words."""
    typer.echo(_call(_client(url, token).post, "/api/speech/said", {"text": text})["said"])


@speech_app.command("lexicon")
def speech_lexicon(
    add: list[str] = typer.Option([], "--add", help="ABBR=how it is read (repeatable)"),
    remove: list[str] = typer.Option([], "--remove", help="ABBR (repeatable)"),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """The station's abbreviations: list them, add or remove some."""
    client = _client(url, token)
    entries = _call(client.get, "/api/speech/lexicon")
    if add or remove:
        for item in add:
            word, sep, said = item.partition("=")
            if not sep:
                _fail(f"--add ABBR=words, not {item!r}")
            entries[word.strip()] = said.strip()
        for word in remove:
            entries.pop(word, None)
        entries = _call(client.put, "/api/speech/lexicon", {"entries": entries})
    for word, said in sorted(entries.items()):
        typer.echo(f"{word:<12} {said}")


def _targets(text: str) -> list[str]:
    out = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        out.append(part if part == "all" or ":" in part else f"zone:{part}")
    return out


def _print_status(b: dict[str, Any]) -> None:
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


@app.command()
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
    client = _client(url, token)
    if what in ("status", "cancel"):
        if not broadcast_id:
            _fail(f"usage: loalang broadcast {what} ID")
        if what == "cancel":
            _print_status(_call(client.post, f"/api/broadcasts/{broadcast_id}/cancel"))
            return
        _follow(client, broadcast_id, wait)
        return
    if what == "list":
        for b in _call(client.get, "/api/broadcasts"):
            _print_status(b)
        return
    if (what is None) == (text is None):
        _fail("Một tệp hoặc --text / a FILE or --text")
    file = Path(what) if what else None
    if file is not None and not file.is_file():
        _fail(f"Không thấy tệp / no such file: {file}")
    if not to:
        _fail("Chọn nơi phát bằng --to / choose targets with --to")
    start_at = None
    if at:
        from datetime import datetime, timezone

        from .timeparse import parse_when

        try:
            start_at = parse_when(at, datetime.now(timezone.utc), tz).isoformat()
        except ValueError as exc:
            _fail(f"Thời gian sai / bad time: {exc}")
    if file is not None:
        bars = _Bars(file.stat().st_size)
        media = _call(client.upload, file, title, bars.sent, bars.progress)
    else:
        media = _speak(client, text or "", voice, language, title)
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
    b = _call(
        client.post,
        "/api/broadcasts",
        {
            "media_sha256": media["sha256"],
            "targets": _targets(to),
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
        _follow(client, b["id"], True)


def _follow(client, broadcast_id: str, wait: bool) -> None:  # type: ignore[no-untyped-def]
    terminal = {"played", "interrupted", "failed", "missed", "cancelled"}
    while True:
        b = _call(client.get, f"/api/broadcasts/{broadcast_id}")
        if not wait or all(d["state"] in terminal for d in b["deliveries"]):
            _print_status(b)
            return
        counts = {k: v for k, v in b["summary"].items() if v}
        typer.echo(f"… {json.dumps(counts)}")
        time.sleep(1)


# --- schedules ----------------------------------------------------------------------------------


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
    client = _client(url, token)
    media = {m["sha256"]: m["duration_ms"] for m in _call(client.get, "/api/media")}
    zones: dict[str, set[str]] = {}
    for device in _call(client.get, "/api/devices"):
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
    result = _call(
        _client(url, token).put,
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

    data = _call(_client(url, token).get, "/api/schedules")
    text = "# Exported from the Loa Làng controller\n" + yaml.safe_dump(
        data, allow_unicode=True, sort_keys=False, default_flow_style=False
    )
    if out:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"Đã ghi / written: {out}")
    else:
        typer.echo(text, nl=False)


def main() -> None:
    app()


# --- emergencies and approvals ----------------------------------------------------------------


@app.command()
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
    client = _client(url, token)
    b = _call(
        client.post,
        "/api/emergencies",
        {
            "title": title,
            "targets": _targets(to),
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
        _follow(client, b["id"], True)


@app.command()
def approvals(
    action: str | None = typer.Argument(None, help="'confirm' or 'approve' with an ID"),
    broadcast_id: str | None = typer.Argument(None),
    watch: bool = typer.Option(False, "--watch", help="keep watching; ring on a new one"),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """What waits for someone (emergencies first); ``confirm ID`` / ``approve ID``."""
    import time

    client = _client(url, token)
    if action in ("confirm", "approve"):
        if not broadcast_id:
            _fail(f"usage: loalang approvals {action} ID")
        _print_status(_call(client.post, f"/api/broadcasts/{broadcast_id}/{action}"))
        return
    if action is not None:
        _fail("usage: loalang approvals [--watch] | confirm ID | approve ID")
    seen: set[str] = set()
    while True:
        held = [
            b
            for state in ("pending_confirmation", "pending_approval")
            for b in _call(client.get, "/api/broadcasts", state=state)
            if b.get("repeat_index", 0) == 0
        ]
        for b in held:
            if b["id"] in seen:
                continue
            seen.add(b["id"])
            urgent = b["state"] == "pending_confirmation"
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


# --- CAP alerts -------------------------------------------------------------------------------


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
    from controller.settings import Settings

    settings = Settings()
    if feed is not None and feed not in settings.cap_feeds:
        _fail(
            f"--feed: no feed {feed!r} in the settings (cap_feeds: "
            f"{', '.join(settings.cap_feeds) or 'none'})"
        )
    try:
        when = datetime.fromisoformat(at) if at else datetime.now().astimezone()
    except ValueError:
        _fail(f"--at: not an ISO 8601 time: {at!r}")
    if when.tzinfo is None:
        _fail("--at: give an offset (e.g. 2026-12-01T15:00:00+07:00)")
    try:
        alert = parse(path.read_bytes())
    except OSError as exc:
        _fail(f"Không đọc được tệp / cannot read: {exc}")
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
        _fail(f"Không kết nối được bộ điều khiển / cannot reach the controller: {exc}")
    if r.status_code >= 400:
        error = (
            r.json().get("error", {})
            if r.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        _fail(f"Lỗi / error {r.status_code}: {error.get('message', r.text[:300])}")
    out = r.json()
    typer.echo(
        f"{out['action']}{' (đã nhận trước đó / seen before)' if out['duplicate'] else ''}"
        f" → {out['broadcast_id'] or '—'} {', '.join(out['zones'])}"
    )


@cap_app.command("feeds")
def cap_feeds(url: str | None = UrlOpt, token: str | None = TokenOpt) -> None:
    """The station's CAP feeds: how each one arrives and what its last read found."""
    for feed in _call(_client(url, token).get, "/api/cap/feeds"):
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


if __name__ == "__main__":
    sys.exit(main())
