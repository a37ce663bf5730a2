"""The core path: upload speech, broadcast it to three agents, check what came out of them."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np

from tests.support.audio import RATE, as_played, correlation, decode, read_wav
from tests.support.stack import Stack, wait_for


def test_broadcast_to_three_agents_plays_the_normalised_audio_in_sync(stack: Stack, speech_wav):
    stack.add_zone("thon-dong", "Thôn Đông")
    stack.add_zone("thon-tay", "Thôn Tây")
    for device_id, zone in (("loa-1", "thon-dong"), ("loa-2", "thon-dong"), ("loa-3", "thon-tay")):
        stack.register(device_id, [zone])
        stack.start_agent(device_id)
    wait_for(
        lambda: all(d["status"] == "online" for d in stack.api.get("/api/devices").json()),
        what="three devices online",
    )

    media = stack.upload(speech_wav, title="Bản tin thử")
    b = stack.broadcast(media["sha256"], ["zone:thon-dong", "zone:thon-tay"])
    assert {d["device_id"] for d in b["deliveries"]} == {"loa-1", "loa-2", "loa-3"}

    done = stack.wait_states(b["id"], {"played"}, timeout=30)

    reference = decode(stack.services.media.store.path_for(media["sha256"]))
    scheduled = datetime.fromisoformat(done["start_at"])
    starts = []
    for d in done["deliveries"]:
        files = stack.output_files(d["device_id"])
        assert len(files) == 1, files
        played = read_wav(files[0])
        # what reached the "sound card" is the normalised media: same length, same content
        # (from where the others were, if this one had to join late on a loaded machine)
        expected = as_played(reference, d)
        assert abs(len(played) - len(expected)) / RATE < 0.050
        score, lag = correlation(played, expected)
        assert score > 0.99, (score, lag)
        assert abs(lag) < 48, (score, lag)
        assert np.sqrt(np.mean(played**2)) > 0.01  # not silence
        meta = json.loads(files[0].with_suffix(".json").read_text())
        actual = datetime.fromisoformat(meta["actual_start"])
        # the controller recorded the actual start the agent reported
        assert datetime.fromisoformat(d["started_at"]) == actual
        assert d["start_offset_ms"] is not None
        assert d["ended_at"] is not None
        assert (actual - scheduled).total_seconds() >= 0
        starts.append(actual)
    assert done["start_skew_ms"] is not None

    log = stack.api.get("/api/playback-log").json()
    assert sorted(e["device_id"] for e in log if e["play_id"] == b["id"]) == [
        "loa-1",
        "loa-2",
        "loa-3",
    ]


def test_health_reports_reach_the_controller(stack: Stack):
    stack.add_zone("ban-na")
    stack.register("loa-na", ["ban-na"])
    stack.start_agent("loa-na")

    def health():
        d = stack.api.get("/api/devices/loa-na").json()
        return d if d["last_health"] else None

    device = wait_for(health, what="health report")
    h = device["last_health"]
    assert device["status"] == "online"
    assert device["version"]
    assert h["uptime_s"] > 0
    assert h["disk_free_mb"] > 0
    assert h["mem_total_mb"] > 0
    assert "output:file" in device["capabilities"]


def test_volume_is_applied_on_both_playback_paths(stack: Stack, speech_wav):
    """Short media plays from decoded PCM in the cache; long media through an ffmpeg pipe."""
    stack.add_zone("z")
    stack.register("loa-pcm", ["z"])
    config = stack.register("loa-pipe", ["z"])
    stack.configs["loa-pipe"] = config.replace(pcm_cache_max_s=0)
    for d in ("loa-pcm", "loa-pipe"):
        stack.start_agent(d)
    media = stack.upload(speech_wav)
    b = stack.broadcast(media["sha256"], ["zone:z"], volume=50)
    done = {d["device_id"]: d for d in stack.wait_states(b["id"], {"played"})["deliveries"]}
    reference = decode(stack.services.media.store.path_for(media["sha256"]))
    assert (stack.configs["loa-pcm"].data_path / "cache" / f"{media['sha256']}.pcm").exists()
    assert not (stack.configs["loa-pipe"].data_path / "cache" / f"{media['sha256']}.pcm").exists()
    for d in ("loa-pcm", "loa-pipe"):
        played = read_wav(stack.output_files(d)[0])
        expected = as_played(reference, done[d])
        assert abs(len(played) - len(expected)) / RATE < 0.050
        score, _ = correlation(played, expected)
        assert score > 0.99, (d, score)
        ratio = np.sqrt(np.mean(played**2)) / np.sqrt(np.mean(expected**2))
        assert abs(ratio - 0.5) < 0.02, (d, ratio)
