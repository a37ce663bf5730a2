"""``loalang-agent``: what a Raspberry Pi runs — the agent itself, and its one-time enrolment.

Standard library only (argparse, urllib) on top of the agent: no Typer, no httpx, so a Pi's
resident memory stays small (``docs/benchmarks.md``). The operator's ``loalang`` command is
another program, for the station's PC.

    loalang-agent run --config /etc/loalang/agent.toml [-v]
    loalang-agent enrol --controller URL --token TOKEN --device ID --zone Z [--zone Z2]
                        [--name TEXT] [--output alsa|file] --config-out PATH
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import ssl
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path


def _logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run(config_path: Path, verbose: bool = False) -> int:
    """Run the agent until SIGTERM or SIGINT."""
    from .agent import Agent
    from .config import AgentConfig, ConfigError

    _logging(verbose)
    try:
        config = AgentConfig.load(config_path)
    except ConfigError as exc:
        print(f"Cấu hình sai / bad config: {exc}", file=sys.stderr)
        return 1
    agent = Agent(config)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    agent.start()
    done.wait()
    agent.stop()
    return 0


def enrol(controller: str, token: str, device: str, zones: list[str], name: str, output: str,
          config_out: Path, ca_file: Path | None = None) -> int:
    """Register this device with the controller and write the config it answers (0600)."""
    body = json.dumps({"id": device, "name": name or device, "zones": zones,
                       "output": output}).encode()
    request = urllib.request.Request(f"{controller.rstrip('/')}/api/devices", data=body,
                                     method="POST", headers={
                                         "Authorization": f"Bearer {token}",
                                         "Content-Type": "application/json",
                                         "Accept-Language": "vi, en"})
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
        print(f"Không kết nối được bộ điều khiển / cannot reach the controller: {exc}",
              file=sys.stderr)
        return 1
    config_out.parent.mkdir(parents=True, exist_ok=True)
    config_out.touch(mode=0o600)
    config_out.write_text(answer["config_toml"], encoding="utf-8")
    print(f"{device}: {config_out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loalang-agent",
                                     description="Loa Làng edge agent (village loudspeaker)")
    commands = parser.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser("run", help="run the agent")
    run_cmd.add_argument("--config", "-c", type=Path, required=True, help="agent TOML file")
    run_cmd.add_argument("-v", "--verbose", action="store_true")
    enrol_cmd = commands.add_parser("enrol", help="register this device, write its config")
    enrol_cmd.add_argument("--controller", required=True)
    enrol_cmd.add_argument("--token", required=True, help="an operator token (used once)")
    enrol_cmd.add_argument("--device", required=True)
    enrol_cmd.add_argument("--zone", action="append", default=[], required=True)
    enrol_cmd.add_argument("--name", default="")
    enrol_cmd.add_argument("--output", choices=("alsa", "file"), default="alsa")
    enrol_cmd.add_argument("--config-out", type=Path, required=True)
    enrol_cmd.add_argument("--ca-file", type=Path, help="the station's CA, for an https "
                           "controller whose certificate it made")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.config, args.verbose)
    return enrol(args.controller, args.token, args.device, args.zone, args.name, args.output,
                 args.config_out, args.ca_file)


if __name__ == "__main__":
    sys.exit(main())
