"""Several real agents in one process, until SIGTERM: how fault runs put a village's agents
inside its network namespace (``ip netns exec … python -m tests.support.agent_group F``).

``F`` is a JSON list of agent configs (what ``Stack.register`` made). Prints ``started`` once
every agent runs; stops them cleanly on SIGTERM, so their outboxes stay on disk for checks.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path


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
