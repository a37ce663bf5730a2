"""Live: mouth to speaker, and how far apart the loudspeakers speak, for every live source.

    .venv/bin/python bench/live_latency.py                          # 5 agents (room), 50 (files)
    .venv/bin/python bench/live_latency.py --agents 5 --sources client line_in browser relay

A 50 ms 1 kHz click every 2 s goes into each live source the way a station makes it:
- ``client``: a streaming client (ffmpeg → Opus/Ogg, 100 ms pages → the broadcast's own
  input mount on the controller's Icecast, with the announcer's source password);
- ``line_in``: the controller's line-in reading PCM as a capture device gives it (a FIFO
  the bench writes in real time: what ``-f alsa`` reads from a mixer);
- ``browser``: the live page in Chromium, its fake microphone playing the clicks; the page's
  own audio graph notes when each click reached it (the "mouth");
- ``relay``: VOV on an Icecast of its own (the clicks sent as the ``client`` does) relayed to
  every village; the station keeps a copy on its timeline (``relay_delay_ms`` after it).
Each click's delay = when a loudspeaker played it − when it was said. With ``--room`` (the
default up to 16 agents) the agents play on PulseAudio null sinks through ALSA and the
clicks are found in the room's recording (tests/support/sound_room.py); with more agents,
on file sinks paced like a sound card (what each sink says it played when).

Real Mosquitto, the real controller over HTTP with its managed Icecast, real agents in
worker processes. Prints figures; asserts nothing. Goals (issue 28): spread between
loudspeakers ≤ 20 ms p99; mouth → speaker ≤ 0.5 s p99 for each source.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import threading
import time
import wave
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fanout import pct, start_agents, start_station, stop_station
from sync import click_track

from bench.scratch import scratch

RATE = 48000
CLICK_EVERY_S = 2.0
CLICK_S = 0.05
LOUD = 3000


def _click() -> bytes:
    t = np.arange(int(RATE * CLICK_S)) / RATE
    return (np.sin(2 * np.pi * 1000 * t) * 0.6 * 32767).astype("<i2").tobytes()


def _paced(write, seconds: float, clicks: list[float], stop: threading.Event) -> None:  # type: ignore[no-untyped-def]
    """Raw PCM in real time, 20 ms at a time; each click's wall time noted as it is written."""
    chunk = RATE // 50
    hiss = (np.random.default_rng(1).normal(0, 30, chunk)).astype("<i2").tobytes()
    click = _click()
    t0, sent, next_click = time.monotonic(), 0.0, 1.0
    while sent < seconds and not stop.is_set():
        if sent >= next_click:
            clicks.append(time.time())
            write(click)
            sent += CLICK_S
            next_click += CLICK_EVERY_S
        else:
            write(hiss)
            sent += chunk / RATE
        delay = t0 + sent - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def _client(target: str, seconds: float, clicks: list[float], stop: threading.Event) -> None:
    proc = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-hide_banner", "-fflags", "nobuffer", "-probesize", "32"]
        + ["-analyzeduration", "0", "-f", "s16le", "-ar", str(RATE), "-ac", "1", "-i", "pipe:0"]
        + ["-c:a", "libopus", "-b:a", "32k", "-application", "voip", "-frame_duration", "20"]
        + ["-page_duration", "100000", "-flush_packets", "1", "-content_type", "application/ogg"]
        + ["-f", "ogg", target],
        stdin=subprocess.PIPE,
    )
    assert proc.stdin is not None

    def write(pcm: bytes) -> None:
        proc.stdin.write(pcm)  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]

    time.sleep(0.5)  # the client connects before it speaks (as a person would)
    _paced(write, seconds, clicks, stop)
    proc.stdin.close()
    proc.wait(timeout=10)


def _line_in(fifo: Path, seconds: float, clicks: list[float], stop: threading.Event) -> None:
    with open(fifo, "wb", buffering=0) as fh:  # blocks until the controller's ffmpeg reads
        time.sleep(0.5)
        _paced(fh.write, seconds, clicks, stop)


CLICK_TAP = """
(() => {
  window.__clicks = [];
  const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    const stream = await original(constraints);
    const ctx = new AudioContext();
    const tap = ctx.createScriptProcessor(256, 1, 1);
    let n = 0, lastLoud = -1e9;
    tap.onaudioprocess = (e) => {
      const d = e.inputBuffer.getChannelData(0), now = Date.now();
      for (let i = 0; i < d.length; i++, n++) {
        if (Math.abs(d[i]) <= 0.3) { continue; }
        if (n - lastLoud > ctx.sampleRate / 4) {  // a click's first loud sample
          window.__clicks.push(now - (d.length - i) / ctx.sampleRate * 1000);
        }
        lastLoud = n;
      }
    };
    ctx.createMediaStreamSource(stream).connect(tap);
    tap.connect(ctx.destination);
    return stream;
  };
})();
"""


def _browser(base: str, wav: Path, seconds: float, clicks: list[float]) -> None:
    """The live page, as a broadcaster uses it, with Chromium's fake microphone."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-audio-capture={wav}",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        page = browser.new_context(base_url=base, locale="vi-VN").new_page()
        page.add_init_script(CLICK_TAP)
        page.goto("/ui/login")
        page.get_by_label("Tên đăng nhập").fill("phat-thanh-vien")
        page.get_by_label("Mật khẩu").fill("bench-password-1")
        page.get_by_role("button", name="Đăng nhập").click()
        page.wait_for_url("**/ui/")
        page.goto("/ui/live")
        form = page.locator("#live-form")
        form.locator("input[name=village][value=all]").check()
        page.locator("#live-start").click()
        page.wait_for_timeout(int(seconds * 1000))
        said = page.evaluate("window.__clicks")
        page.locator("#live-end").click()
        page.wait_for_timeout(1000)
        browser.close()
    clicks.extend(t / 1000 for t in said)


def _relay(api, tmp: Path, seconds: float, clicks: list[float], stop: threading.Event) -> str:  # type: ignore[no-untyped-def]
    """VOV (an Icecast of its own, the clicks sent to it as a station's encoder would) relayed
    to every village for ``seconds``; the mouth is when a click went into VOV's encoder."""
    from tests.support.icecast import PASSWORD, Icecast

    vov = Icecast(tmp / "vov").start()
    target = f"icecast://source:{PASSWORD}@127.0.0.1:{vov.port}/vov1.ogg"
    feeding = threading.Thread(target=_client, args=(target, seconds + 8, clicks, stop))
    feeding.start()
    while not vov.mount_up("vov1.ogg"):
        time.sleep(0.2)
    relay = api.post(
        "/api/relays",
        json={
            "targets": ["zone:all-villages"],
            "url": vov.url("vov1.ogg"),
            "duration_s": int(seconds),
            "title": "Tiếp sóng VOV1",
        },
    )
    relay.raise_for_status()
    feeding.join()
    vov.stop()
    return str(relay.json()["id"])


def _heard_in_files(configs: list[dict], broadcast_id: str) -> dict[str, list[float]]:
    """Per agent, wall times at which clicks came out of its file sink."""
    heard = {}
    for config in configs:
        wavs = sorted((Path(config["data_dir"]) / "output").glob(f"*{broadcast_id}*.wav"))
        if not wavs:
            continue
        meta = json.loads(wavs[0].with_suffix(".json").read_text())
        started = datetime.fromisoformat(meta["actual_start"]).timestamp()
        with wave.open(str(wavs[0])) as w:
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        heard[config["device_id"]] = _onsets(pcm, started)
    return heard


def _onsets(pcm: np.ndarray, t0: float) -> list[float]:
    loud = np.abs(pcm.astype(np.int32)) > LOUD
    edges = np.nonzero(loud[1:] & ~loud[:-1])[0] + 1
    out, last = [], -RATE
    for e in edges:  # one onset per click (a 1 kHz tone crosses the threshold each period)
        if e - last > RATE // 4:
            out.append(t0 + e / RATE)
        last = e
    return out


def _heard_in_room(room, n: int, since: float) -> dict[str, list[float]]:  # type: ignore[no-untyped-def]
    t0, audio = room.recording()
    first = max(0, int((since - t0) * RATE))
    return {f"loa-{i:04d}": _onsets(audio[first:, i], t0 + first / RATE) for i in range(n)}


def run(
    n: int,
    sources: list[str],
    seconds: float,
    per_process: int,
    use_room: bool,
    delay_ms: int | None,
) -> None:
    from controller.db.models import DeviceEvent
    from tests.support.mosquitto import Mosquitto, free_port

    tmp = scratch("loalang-bench-live-")
    broker = Mosquitto(tmp / "mosquitto").start()
    room = None
    if use_room:
        from tests.support.sound_room import SoundRoom

        room = SoundRoom(n, tmp / "room").start()
        os.environ.update(room.env)
    fifo = tmp / "line-in.fifo"
    os.mkfifo(fifo)
    agent_root = scratch("loalang-bench-live-agents-")
    services, server, api, configs = start_station(
        tmp,
        broker.port,
        n,
        agent_root,
        icecast="managed",
        icecast_port=free_port(),
        live_line_in=f"-f s16le -ar {RATE} -ac 1 -i {fifo}",
        **({"live_delay_ms": delay_ms} if delay_ms else {}),
    )
    if room is not None:
        for i, data in enumerate(configs):
            data["output"] = {"backend": "alsa", "device": room.device(i)}
    groups = [list(range(i, min(n, i + per_process))) for i in range(0, n, per_process)]
    procs, stop_agents = start_agents(configs, groups, mp.get_context("spawn"))
    deadline = time.time() + 300
    while time.time() < deadline:
        if sum(d["status"] == "online" for d in api.get("/api/devices").json()) == n:
            break
        time.sleep(1)
    if room is not None:
        room.record()
    api.post(
        "/api/users",
        json={
            "username": "phat-thanh-vien",
            "password": "bench-password-1",
            "roles": ["broadcaster"],
        },
    ).raise_for_status()
    token = api.post("/api/users/phat-thanh-vien/tokens", json={}).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    secret = api.post("/api/live/source-password", headers=auth).json()["password"]
    print(f"\n{n} agents on {'the sound room (ALSA → PulseAudio)' if room else 'file sinks'}:")
    for source in sources:
        clicks: list[float] = []
        stop = threading.Event()
        if source == "browser":
            base = str(api.base_url).rstrip("/")
            wav = click_track(
                tmp / "clicks.wav", seconds + 2, CLICK_EVERY_S, 1.0, int(CLICK_S * 1000)
            )
            _browser(base, wav, seconds, clicks)
            lives = api.get("/api/broadcasts", params={"limit": 5}).json()
            broadcast_id = next(b["id"] for b in lives if b["id"].startswith("l-"))
        elif source == "relay":
            broadcast_id = _relay(api, tmp, seconds, clicks, stop)
        else:
            live = api.post(
                "/api/live",
                headers=auth,
                json={"targets": ["zone:all-villages"], "source": source},
            ).json()
            broadcast_id = live["broadcast_id"]
            if source == "client":
                s = services.settings
                mount = f"/{broadcast_id}.in.ogg"
                target = f"icecast://phat-thanh-vien:{secret}@127.0.0.1:{s.icecast_port}{mount}"
                _client(target, seconds, clicks, stop)
            else:
                _line_in(fifo, seconds, clicks, stop)
            time.sleep(1.0)
            api.post(f"/api/live/{broadcast_id}/end", headers=auth).raise_for_status()
        time.sleep(2.5)
        services.ingest.wait_idle(30)
        with services.sessions() as session:
            rows = session.query(DeviceEvent).filter_by(play_id=broadcast_id).all()
            started = [
                datetime.fromisoformat(e.payload["actual_start"]).timestamp()
                for e in rows
                if e.type == "playback.started"
            ]
            finished = [e.payload for e in rows if e.type == "playback.finished"]
        if not started:
            print(f"  {source}: no loudspeaker started")
            continue
        on_air = max(started)
        heard = (
            _heard_in_room(room, n, on_air - 0.5)
            if room is not None
            else _heard_in_files(configs, broadcast_id)
        )
        late = sum(p.get("late_ms") or 0 for p in finished)
        delay = next((p.get("live_delay_ms") for p in finished), None)
        # a click is heard no sooner than the delay after it was said, and before the next
        # one would be: the window for each (a relay's delay is longer than the clicks' gap)
        soonest = (delay or 0) / 1000 - 0.05
        off_air = min(started) + min(p.get("played_ms") or 0 for p in finished) / 1000
        in_play = [c for c in clicks if on_air + 0.5 < c < off_air - soonest - 0.5]
        delays: list[float] = []
        by_click: dict[float, list[float]] = {}
        for said in in_play:
            for times in heard.values():
                after = [h - said for h in times if soonest < h - said < soonest + CLICK_EVERY_S]
                if after:
                    delays.append(min(after) * 1000)
                    by_click.setdefault(said, []).append(min(after) * 1000)
        counted = len(in_play)
        if not delays:
            print(f"  {source}: no click heard")
            continue
        spreads = [max(v) - min(v) for v in by_click.values() if len(v) > 1]
        print(
            f"  {source:>8}: mouth → speaker min {min(delays):4.0f}  p50 {pct(delays, 50):4.0f}  "
            f"p99 {pct(delays, 99):4.0f}  max {max(delays):4.0f} ms "
            f"({len(delays)}/{counted * n} clicks heard; delay {delay} ms; "
            f"audio that came after its time: {late} ms in all)"
        )
        if spreads:
            print(
                f"            spread between loudspeakers per click: min {min(spreads):5.1f}  "
                f"p50 {pct(spreads, 50):5.1f}  p99 {pct(spreads, 99):5.1f}  "
                f"max {max(spreads):5.1f} ms ({len(spreads)} clicks)"
            )
    stop_station(procs, stop_agents, server, services)
    if room is not None:
        room.stop()
    broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, nargs="*", default=[5, 50])
    parser.add_argument("--sources", nargs="*", default=["client", "line_in", "browser", "relay"])
    parser.add_argument("--per-process", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=21)
    parser.add_argument("--room", choices=["auto", "yes", "no"], default="auto")
    parser.add_argument("--delay-ms", type=int, help="the station's live delay (its default)")
    args = parser.parse_args()
    print(
        f"Loa Làng live — mouth to speaker and spread, {platform.machine()} "
        f"{mp.cpu_count()} cores, CPython {platform.python_version()}"
    )
    for n in args.agents:
        use_room = args.room == "yes" or (args.room == "auto" and n <= 16)
        run(n, args.sources, args.seconds, args.per_process, use_room, args.delay_ms)


if __name__ == "__main__":
    main()
