"""Enrolment and media over HTTPS checked against the station's own CA: the agent's enrol
command refuses the controller without the CA and enrols with it; the config it gets carries
the CA, and the agent fetches and plays its media over HTTPS with the certificate checked."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from controller.server import https_server
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.stack import Stack

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def station(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Stack]:
    port = free_port()
    s = Stack(
        tmp_path,
        mosquitto.port,
        https_port=port,
        https_host="127.0.0.1",
        public_url=f"https://localhost:{port}",
    )
    s.start()
    # the test itself talks to the plain loopback face; the device to the public HTTPS one
    s.api = httpx.Client(
        base_url=f"http://127.0.0.1:{s.http_port}", timeout=120, headers=s.api.headers
    )
    server, _ = https_server(s.server.app, s.settings)  # type: ignore[misc, union-attr]
    server.start()
    s.add_zone("thon-dong")
    yield s
    server.stop()
    s.stop()


def _enrol(s: Stack, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    assert s.services is not None
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "edge_agent",
            "enrol",
            "--controller",
            s.settings.public_url,
            # as install.sh passes it: a token may begin with "-" (token_urlsafe), which
            # argparse once took for an option
            f"--token={s.services.api_token}",
            "--device",
            "loa-1",
            "--zone",
            "thon-dong",
            "--output",
            "file",
            "--config-out",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_enrol_over_https_with_the_station_ca_then_play(station: Stack, tmp_path, speech_wav):
    s = station
    ca = s.settings.data_dir / "tls" / "ca.crt"
    out = tmp_path / "agent.toml"
    refused = _enrol(s, out)
    assert refused.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in refused.stderr
    done = _enrol(s, out, "--ca-file", str(ca))
    assert done.returncode == 0, done.stderr
    data = tomllib.loads(out.read_text())
    assert data["controller_url"].startswith("https://localhost:")
    assert data["ca_pem"].strip() == ca.read_text().strip()
    data.update(data_dir=str(tmp_path / "agent"))
    from edge_agent.config import AgentConfig

    s.configs["loa-1"] = AgentConfig.from_dict(data)
    s.start_agent("loa-1")
    media = s.upload(speech_wav)
    b = s.broadcast(media["sha256"], ["device:loa-1"])
    s.wait_states(b["id"], {"played"}, timeout=60)  # the media came over HTTPS
