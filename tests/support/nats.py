"""A real NATS cluster (JetStream, MQTT interface) of N nodes on free ports, restartable.

The clustered broker a province runs (docs/operations.md "A province"): each node speaks
MQTT 3.1.1; retained messages and persistent sessions live in JetStream streams replicated
across the nodes, so an agent on one node reads a plan the controller published on another.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

from controller.broker.access import BrokerUser, nats_authorization, nats_hash

from .mosquitto import free_port, wait_port


def nats_binary() -> str | None:
    return shutil.which("nats-server") or next(
        (p for p in ("/usr/sbin/nats-server", "/usr/bin/nats-server") if Path(p).exists()), None
    )


class NatsCluster:
    """``nodes`` nats-server processes in one cluster; ``port`` is node 1's MQTT port,
    ``mqtt_ports`` every node's."""

    def __init__(self, workdir: Path, nodes: int = 2, authorization: Path | None = None):
        """``authorization``: a file every node includes (the controller's per-device
        log-ins and subjects); until the controller writes it, nobody may log in."""
        if nats_binary() is None:
            raise RuntimeError("nats-server is not installed (run ./run test to install it)")
        self.workdir = workdir
        self.count = nodes
        self.client_ports = [free_port() for _ in range(nodes)]
        self.route_ports = [free_port() for _ in range(nodes)]
        self.http_ports = [free_port() for _ in range(nodes)]
        self.mqtt_ports = [free_port() for _ in range(nodes)]
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * nodes
        self.authorization = authorization
        if authorization is not None and not authorization.exists():
            authorization.parent.mkdir(parents=True, exist_ok=True)
            authorization.write_text(
                nats_authorization(  # one user nobody knows
                    [BrokerUser("nobody", nats_hash(secrets.token_hex(16)))], []
                )
            )

    @property
    def reload_command(self) -> str:
        """What the controller runs after writing the authorization file: every node of
        this cluster re-reads its config (SIGHUP), wherever it was restarted."""
        return f"pkill -HUP -f {self.workdir}/n[0-9]+/nats.conf"

    @property
    def port(self) -> int:
        return self.mqtt_ports[0]

    def _config(self, i: int) -> Path:
        node = self.workdir / f"n{i + 1}"
        node.mkdir(parents=True, exist_ok=True)
        routes = ", ".join(
            f"nats://127.0.0.1:{p}" for j, p in enumerate(self.route_ports) if j != i
        )
        path = node / "nats.conf"
        path.write_text(
            f"""
server_name: n{i + 1}
listen: 127.0.0.1:{self.client_ports[i]}
http: 127.0.0.1:{self.http_ports[i]}
jetstream {{ store_dir: "{node / "js"}" }}
cluster {{ name: loalang, listen: 127.0.0.1:{self.route_ports[i]}, routes: [{routes}] }}
mqtt {{ listen: 127.0.0.1:{self.mqtt_ports[i]} }}
max_payload: 1MB
"""
            + (
                f'include "{os.path.relpath(self.authorization, node)}"\n'  # (relative to it)
                if self.authorization
                else ""
            )
        )
        return path

    def start(self, timeout: float = 30.0) -> NatsCluster:
        for i in range(self.count):
            if self.procs[i] is None:
                config = self._config(i)
                log = (self.workdir / f"n{i + 1}.log").open("ab")
                self.procs[i] = subprocess.Popen(
                    [str(nats_binary()), "-c", str(config)], stdout=log, stderr=subprocess.STDOUT
                )
        for port in self.mqtt_ports:
            wait_port(port, timeout)
        self._wait_jetstream(timeout)
        return self

    def _wait_jetstream(self, timeout: float) -> None:
        """Until every node knows the JetStream meta leader (MQTT needs it for sessions)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                ready = all(self._meta_leader(port) for port in self.http_ports)
            except OSError:
                ready = False
            if ready:
                return
            time.sleep(0.2)
        raise TimeoutError("the NATS cluster elected no JetStream leader")

    @staticmethod
    def _meta_leader(http_port: int) -> str | None:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/jsz", timeout=2) as r:
            body = json.load(r)
        return (body.get("meta_cluster") or {}).get("leader")

    def stop(self) -> None:
        for i, proc in enumerate(self.procs):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
                self.procs[i] = None
