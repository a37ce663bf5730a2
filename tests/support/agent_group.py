"""Several real agents in one process, until SIGTERM: how fault runs put a village's agents
inside its network namespace (``ip netns exec … python -m tests.support.agent_group F``).

``F`` is a JSON list of agent configs (what ``Stack.register`` made). Prints ``started`` once
every agent runs; stops them cleanly on SIGTERM, so their outboxes stay on disk for checks.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def launch(
    configs: list[dict[str, Any]], path: Path, inside: Callable[[list[str]], list[str]]
) -> subprocess.Popen[bytes]:
    """One process running the agents of ``configs`` (written to ``path``), started through
    ``inside`` (a village's ``command``: its network namespace); its output in ``path``.log."""
    path.write_text(json.dumps(configs))
    with path.with_suffix(".log").open("wb") as log:
        return subprocess.Popen(
            inside([sys.executable, "-m", "tests.support.agent_group", str(path)]),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def launch_in_villages(
    configs: dict[str, dict[str, Any]],
    devices: dict[str, int],
    villages: Any,
    per_process: int,
    tmp: Path,
) -> list[subprocess.Popen[bytes]]:
    """Each village's agents (``devices``: device → village index) in groups of
    ``per_process``, each group one process inside its village's namespace."""
    procs = []
    for v, village in enumerate(villages.villages):
        mine = [d for d, dv in devices.items() if dv == v]
        for k in range(0, len(mine), per_process):
            group = [configs[d] for d in mine[k : k + per_process]]
            procs.append(launch(group, tmp / f"agents-{v}-{k}.json", village.command))
    return procs


def stop(procs: Iterable[subprocess.Popen[bytes]], timeout: float = 30) -> None:
    """SIGTERM to every group (each stops its agents cleanly), then -9 to any still there."""
    procs = list(procs)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(path: Path) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    from edge_agent.agent import Agent
    from edge_agent.config import AgentConfig

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    agents = [Agent(AgentConfig.from_dict(data)) for data in json.loads(path.read_text())]
    for agent in agents:
        agent.start()
    print("started", flush=True)
    done.wait()
    for agent in agents:
        agent.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
