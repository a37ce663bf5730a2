"""An agent that survives its village: broker killed mid-play, agent killed mid-download,
agent killed while writing its files. Real processes, real SIGKILL."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from protocol.messages import utcnow
from tests.support.audio import make_speech, read_wav
from tests.support.mosquitto import Mosquitto
from tests.support.stack import Stack, wait_for
from tests.support.throttle import ThrottledProxy

ROOT = Path(__file__).resolve().parents[2]


def test_broker_killed_mid_play_the_play_finishes_and_is_reported_once(
    stack: Stack, mosquitto: Mosquitto, speech_dir
):
    stack.add_zone("thon-dong")
    stack.register("loa-1", ["thon-dong"])
    agent = stack.start_agent("loa-1")
    media = stack.upload(make_speech(speech_dir / "dai-broker.wav", "Kính thưa bà con. " * 8))
    # started well ahead: a loaded machine's late start would skip to stay on the timeline,
    # and this test counts every sample of the play
    b = stack.broadcast(
        media["sha256"], ["zone:thon-dong"], start_at=(utcnow() + timedelta(seconds=6)).isoformat()
    )
    stack.wait_states(b["id"], {"playing"}, timeout=60)
    mosquitto.kill()
    sidecar = wait_for(
        lambda: [p for p in stack.configs["loa-1"].output_dir.glob("*.json")],
        timeout=60,
        what="the play to finish with the broker down",
    )[0]
    meta = json.loads(sidecar.read_text())
    assert not meta["interrupted"]
    played = read_wav(sidecar.with_suffix(".wav"))
    assert abs(len(played) / 48000 - media["duration_ms"] / 1000) < 0.05
    assert len(agent.outbox) >= 1  # the finished event waits on disk
    mosquitto.start()
    d = stack.wait_states(b["id"], {"played"}, timeout=60)["deliveries"][0]
    assert d["played_ms"] > 0
    wait_for(lambda: len(agent.outbox) == 0, what="outbox flushed")
    stack.services.ingest.wait_idle()
    for kind in ("ack", "media.ready", "playback.started", "playback.finished"):
        assert len(stack.events(type=kind, play_id=b["id"])) == 1, kind


def _agent_config(stack: Stack, device_id: str, controller_url: str) -> Path:
    r = stack.api.post(
        "/api/devices",
        json={"id": device_id, "name": device_id, "zones": ["thon-dong"], "output": "file"},
    )
    assert r.status_code == 201, r.text
    data_dir = stack.tmp / "agents" / device_id
    text = r.json()["config_toml"]
    text = text.replace('data_dir = "/var/lib/loalang-agent"', f'data_dir = "{data_dir}"')
    text = text.replace(
        f'controller_url = "{stack.base_url}"', f'controller_url = "{controller_url}"'
    )
    path = stack.tmp / f"{device_id}.toml"
    path.write_text(text)
    return path


def _spawn_agent(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge_agent", "run", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def slow_stack(tmp_path: Path, mosquitto: Mosquitto):
    # broadcasts go out two minutes ahead, so the download happens well before the start
    s = Stack(tmp_path, mosquitto.port, prefetch_lead_s=120).start()
    proxy = ThrottledProxy(s.base_url, rate_bps=25_000).start()
    yield s, proxy
    proxy.stop()
    s.stop()


def test_agent_killed_mid_download_resumes_after_restart(slow_stack, speech_dir):
    stack, proxy = slow_stack
    stack.add_zone("thon-dong")
    config = _agent_config(stack, "loa-1", proxy.url)
    media = stack.upload(make_speech(speech_dir / "rat-dai.wav", "Kính thưa bà con. " * 30))
    assert media["size"] > 75_000  # three seconds or more over the slow link
    cache = stack.tmp / "agents" / "loa-1" / "cache"
    part = cache / f"{media['sha256']}.part"
    agent = _spawn_agent(config)
    try:
        wait_for(
            lambda: stack.api.get("/api/devices/loa-1").json()["status"] == "online",
            what="agent online",
        )
        b = stack.broadcast(
            media["sha256"],
            ["zone:thon-dong"],
            start_at=(utcnow() + timedelta(seconds=90)).isoformat(),
        )
        wait_for(lambda: part.exists() and part.stat().st_size > 20_000, what="download half-way")
        agent.send_signal(signal.SIGKILL)  # power cut
        agent.wait()
        have = part.stat().st_size
        assert 0 < have < media["size"]
        agent = _spawn_agent(config)
        d = stack.wait_states(b["id"], {"media_ready"}, timeout=60)["deliveries"][0]
        assert d["state"] == "media_ready"
        final = cache / f"{media['sha256']}.opus"
        assert hashlib.sha256(final.read_bytes()).hexdigest() == media["sha256"]
        assert not part.exists()
        # the second request asked only for what was missing, and only that came over the link
        assert (f"/media/{media['sha256']}", f"bytes={have}-") in proxy.requests
        ready = [e for e in stack.events(type="media.ready", play_id=b["id"])]
        assert [e["payload"]["fetched_bytes"] for e in ready] == [media["size"] - have]
    finally:
        agent.kill()
        agent.wait()


WRITER = r"""
import json, sys
from pathlib import Path
from edge_agent.fsutil import atomic_write
from edge_agent.outbox import Outbox
d = Path(sys.argv[1])
outbox = Outbox(d / "outbox")
try:
    i = json.loads((d / "plan.json").read_bytes())["seq"]  # go on from the last round
except FileNotFoundError:
    i = 0
first = i + 1
while True:
    i += 1
    plan = {"seq": i, "plan": {"entries": [{"play_id": f"p{i}.{k}", "x": "y" * 500}
                                           for k in range(40)]}}
    atomic_write(d / "plan.json", json.dumps(plan).encode())
    outbox.put("loalang/v1/device/x/event", json.dumps({"n": i, "pad": "z" * 2000}).encode())
    if i == first:  # one whole round is on disk before the kill can land (CI under load)
        print("ready", flush=True)
"""


def test_agent_killed_while_writing_its_plan_and_outbox_leaves_them_readable(tmp_path):
    from edge_agent.outbox import Outbox

    for round_ in range(8):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE
        )
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        time.sleep(0.05 + 0.037 * round_)  # land the kill at different points of a write
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        plan = json.loads((tmp_path / "plan.json").read_bytes())  # whole, old or new
        assert len(plan["plan"]["entries"]) == 40
        outbox = Outbox(tmp_path / "outbox", max_items=10**6, max_droppable=10**6)
        items = outbox.pending(limit=10**6)
        assert len(items) == len(outbox) > 0
        numbers = [json.loads(item.payload)["n"] for item in items]
        assert numbers == sorted(set(numbers))  # in order, each once, every one readable
        assert not list((tmp_path / "outbox").glob(".*.tmp"))  # half-writes cleaned away
