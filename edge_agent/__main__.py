"""``loalang-agent``: what a Raspberry Pi runs — the agent itself, and its one-time enrolment.

Standard library only (argparse, urllib) on top of the agent: no Typer, no httpx, so a Pi's
resident memory stays small (``docs/benchmarks.md``). The operator's ``loalang`` command is
another program, for the station's PC.

    loalang-agent run --config /etc/loalang/agent.toml [-v]
    loalang-agent check --config ...   what a new release must pass before the agent uses it
    loalang-agent guard --config ...   before each start (systemd ExecStartPre): leave a
                                       release under trial that keeps failing
    loalang-agent enrol --controller URL --token TOKEN --device ID --zone Z [--zone Z2]
                        [--name TEXT] [--output alsa|file] --config-out PATH
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import ssl
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


STOP_GRACE_S = 10.0


def _leave_now() -> None:
    logging.getLogger(__name__).error("the agent did not stop within %.0f s: leaving", STOP_GRACE_S)
    logging.shutdown()
    os._exit(1)


def run(config_path: Path, verbose: bool = False) -> int:
    """Run the agent until SIGTERM or SIGINT (or an update restarts it into a release)."""
    from .agent import Agent
    from .config import AgentConfig, ConfigError
    from .update import exec_current

    _logging(verbose)
    try:
        config = AgentConfig.load(config_path)
    except ConfigError as exc:
        print(f"Cấu hình sai / bad config: {exc}", file=sys.stderr)
        return 1
    agent = Agent(config, config_path=config_path)
    done = threading.Event()
    restart = threading.Event()

    def restart_now() -> None:
        restart.set()
        done.set()

    agent.updates.restart = restart_now
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    try:
        agent.start()
    except Exception as exc:
        logging.getLogger(__name__).exception("agent failed to start")
        if not agent.updates.give_up("start_failed", f"{type(exc).__name__}: {exc}"):
            raise
    done.wait()
    # a stop that hangs (a board or broker gone with the host that started us) must not keep
    # the process: systemd, or a demo killed with -9, expects it gone within seconds
    watchdog = threading.Timer(STOP_GRACE_S, _leave_now)
    watchdog.daemon = True
    watchdog.start()
    try:
        agent.stop()
    except Exception:  # a start that failed half-way: leave anyway
        logging.getLogger(__name__).exception("agent did not stop cleanly")
    if restart.is_set():
        exec_current(agent.updates.releases, config_path, verbose)
    return 0


def check(config_path: Path) -> int:
    """A release's self-check, run by the agent before it switches to it: this code imports
    whole and reads this device's config, state and plan; prints its version (JSON)."""
    import importlib
    import subprocess

    from protocol import __version__
    from protocol.messages import PlanCommand, convert

    from .config import AgentConfig, ConfigError
    from .fsutil import read_json
    from .state import AgentState

    try:
        # every module the agent may import, its boards and outputs included
        for module in (
            "agent",
            "hardware.mcu",
            "hardware.relay",
            "outputs.alsa",
            "outputs.file",
            "update",
        ):
            importlib.import_module(f"edge_agent.{module}")
        config = AgentConfig.load(config_path)
        AgentState(config.data_path / "state.json", config.zones)
        stored = read_json(config.data_path / "plan.json", None)
        if stored:
            convert(stored["plan"], PlanCommand)
        subprocess.run([config.ffmpeg, "-version"], capture_output=True, check=True, timeout=30)
    except (
        ImportError,
        SyntaxError,
        ConfigError,
        ValueError,
        KeyError,
        TypeError,
        OSError,
        subprocess.SubprocessError,
    ) as exc:
        print(f"check failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"version": __version__}))
    return 0


def guard(config_path: Path) -> int:
    """systemd's ExecStartPre: go back from a release under trial that keeps failing. Never
    fails itself (the service must start either way)."""
    from .config import AgentConfig, ConfigError
    from .update import Releases
    from .update import guard as check_trial

    _logging(False)
    try:
        config = AgentConfig.load(config_path)
        reason = check_trial(config.data_path / "update.json", Releases(config.releases_path))
    except (ConfigError, OSError, ValueError) as exc:
        print(f"guard: {exc}", file=sys.stderr)
        return 0
    if reason:
        print(f"guard: release under trial left ({reason})", file=sys.stderr)
    return 0


def enrol(
    controller: str,
    token: str,
    device: str,
    zones: list[str],
    name: str,
    output: str,
    config_out: Path,
    ca_file: Path | None = None,
) -> int:
    """Register this device with the controller and write the config it answers (0600)."""
    body = json.dumps(
        {"id": device, "name": name or device, "zones": zones, "output": output}
    ).encode()
    request = urllib.request.Request(
        f"{controller.rstrip('/')}/api/devices",
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept-Language": "vi, en",
        },
    )
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {exc.code}"
        print(f"Lỗi / error: {message}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(
            f"Không kết nối được bộ điều khiển / cannot reach the controller: {exc}",
            file=sys.stderr,
        )
        return 1
    config_out.parent.mkdir(parents=True, exist_ok=True)
    config_out.touch(mode=0o600)
    config_out.write_text(answer["config_toml"], encoding="utf-8")
    print(f"{device}: {config_out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="loalang-agent", description="Loa Làng edge agent (village loudspeaker)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser("run", help="run the agent")
    run_cmd.add_argument("--config", "-c", type=Path, required=True, help="agent TOML file")
    run_cmd.add_argument("-v", "--verbose", action="store_true")
    for name, text in (
        ("check", "self-check of this release (before an update switches)"),
        ("guard", "before each start: leave a failing release under trial"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--config", "-c", type=Path, required=True, help="agent TOML file")
    enrol_cmd = commands.add_parser("enrol", help="register this device, write its config")
    enrol_cmd.add_argument("--controller", required=True)
    enrol_cmd.add_argument("--token", required=True, help="an operator token (used once)")
    enrol_cmd.add_argument("--device", required=True)
    enrol_cmd.add_argument("--zone", action="append", default=[], required=True)
    enrol_cmd.add_argument("--name", default="")
    enrol_cmd.add_argument("--output", choices=("alsa", "file"), default="alsa")
    enrol_cmd.add_argument("--config-out", type=Path, required=True)
    enrol_cmd.add_argument(
        "--ca-file",
        type=Path,
        help="the station's CA, for an https controller whose certificate it made",
    )
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.config, args.verbose)
    if args.command == "check":
        return check(args.config)
    if args.command == "guard":
        return guard(args.config)
    return enrol(
        args.controller,
        args.token,
        args.device,
        args.zone,
        args.name,
        args.output,
        args.config_out,
        args.ca_file,
    )


if __name__ == "__main__":
    sys.exit(main())
