"""Plans: the agent holds its signed plan on disk and plays it on time with the link down."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from controller.db.models import DevicePlan
from protocol.messages import utcnow
from tests.support.audio import correlation, decode, read_wav
from tests.support.mosquitto import Mosquitto
from tests.support.schedules import one_off_at
from tests.support.stack import Stack, wait_for

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def _one_agent(stack: Stack, speech_wav) -> dict:
    """Agent loa-1 in zone thon-dong, online; returns the uploaded bulletin."""
    stack.add_zone("thon-dong")
    stack.register("loa-1", ["thon-dong"])
    stack.start_agent("loa-1")
    return stack.upload(speech_wav)


def _plan_file(stack: Stack, device: str) -> dict:
    path = stack.configs[device].data_path / "plan.json"
    return json.loads(path.read_text()) if path.exists() else {}


def test_agent_plays_its_plan_with_the_broker_down_and_reports_once(
    stack: Stack, mosquitto: Mosquitto, speech_wav
):
    media = _one_agent(stack, speech_wav)
    start = (utcnow() + timedelta(seconds=12)).replace(microsecond=0)
    r = stack.api.put("/api/schedules", json=one_off_at(start, media["sha256"]))
    assert r.status_code == 200, r.text
    assert r.json()["applied"], r.text

    plan = wait_for(
        lambda: _plan_file(stack, "loa-1").get("plan", {}).get("entries"),
        what="plan on the agent's disk",
    )
    play_id = plan[0]["play_id"]
    cache = stack.configs["loa-1"].data_path / "cache" / f"{media['sha256']}.opus"
    wait_for(cache.exists, what="media prefetched")

    mosquitto.stop()  # the village's 4G link goes down before the session
    wait_for(
        lambda: (
            len(stack.output_files("loa-1")) == 1
            and stack.output_files("loa-1")[0].with_suffix(".json").exists()
        ),
        timeout=40,
        what="the bulletin played offline",
    )
    out = stack.output_files("loa-1")[0]
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["play_id"] == play_id
    assert datetime.fromisoformat(meta["actual_start"]) >= start  # on its time, never early
    reference = decode(stack.services.media.store.path_for(media["sha256"]))
    score, _ = correlation(read_wav(out), reference)
    assert score > 0.99
    assert stack.events(type="playback.finished") == []  # nothing could be reported yet

    mosquitto.start()  # link back: the outbox flushes in order
    finished = wait_for(
        lambda: stack.events(type="playback.finished", play_id=play_id),
        timeout=40,
        what="the play reported after reconnect",
    )
    agent = stack.agents["loa-1"]
    wait_for(lambda: len(agent.outbox) == 0, what="the outbox flushed")
    assert stack.services.ingest.wait_idle()
    assert len(stack.events(type="playback.finished", play_id=play_id)) == 1  # once
    assert datetime.fromisoformat(finished[0]["payload"]["actual_start"]) == datetime.fromisoformat(
        meta["actual_start"]
    )
    types = [e["type"] for e in reversed(stack.events(play_id=play_id))]
    assert types.index("playback.started") < types.index("playback.finished")


def test_plans_are_republished_only_on_change_and_a_removed_play_does_not_play(
    stack: Stack, speech_wav
):
    media = _one_agent(stack, speech_wav)
    start = utcnow() + timedelta(seconds=15)
    body = one_off_at(start, media["sha256"])
    assert stack.api.put("/api/schedules", json=body).json()["applied"]
    entries = wait_for(
        lambda: _plan_file(stack, "loa-1").get("plan", {}).get("entries"), what="plan"
    )
    play_id = entries[0]["play_id"]
    agent = stack.agents["loa-1"]
    wait_for(lambda: agent.player.has(play_id), what="the play scheduled on the agent")

    def version():
        with stack.services.sessions() as session:
            row = session.get(DevicePlan, "loa-1")
            return (row.version, row.cmd_id) if row else None

    first = version()
    assert stack.services.plans.publish_changed() == 0  # nothing changed: nothing sent
    assert version() == first

    body["schedules"] = []
    assert stack.api.put("/api/schedules", json=body).json()["removed"] == ["ban-tin"]
    wait_for(
        lambda: _plan_file(stack, "loa-1").get("plan", {}).get("entries") == [],
        what="empty plan on the agent",
    )
    # the agent dropped the play, and what was fired centrally for it is cancelled: nothing
    # left anywhere could make it play
    wait_for(lambda: not agent.player.has(play_id), what="the play dropped by the agent")

    def fired_gone() -> bool:
        fired = stack.api.get(f"/api/broadcasts/{play_id}")
        return fired.status_code == 404 or fired.json()["state"] == "cancelled"

    wait_for(fired_gone, what="the centrally fired occurrence cancelled")
    wait_for(
        lambda: utcnow() > start + timedelta(milliseconds=media["duration_ms"] + 1000),
        timeout=40,
        what="the old start and length passed",
    )
    assert stack.output_files("loa-1") == []


def test_agent_restarted_offline_still_plays_from_the_plan_on_disk(
    stack: Stack, mosquitto: Mosquitto, speech_wav
):
    from edge_agent.agent import Agent

    media = _one_agent(stack, speech_wav)
    start = utcnow() + timedelta(seconds=14)
    assert stack.api.put("/api/schedules", json=one_off_at(start, media["sha256"])).json()[
        "applied"
    ]
    wait_for(lambda: _plan_file(stack, "loa-1").get("plan", {}).get("entries"), what="plan")
    cache = stack.configs["loa-1"].data_path / "cache" / f"{media['sha256']}.opus"
    wait_for(cache.exists, what="media prefetched")

    mosquitto.stop()
    stack.agents.pop("loa-1").kill()  # power cut, and the link is down when it boots again
    agent = Agent(stack.configs["loa-1"])
    agent.start()
    stack.agents["loa-1"] = agent
    wait_for(
        lambda: len(stack.output_files("loa-1")) == 1,
        timeout=40,
        what="played from the stored plan",
    )
    mosquitto.start()


def test_schedule_occurrence_is_also_fired_centrally_and_plays_once(stack: Stack, speech_wav):
    stack.add_zone("thon-dong")
    for d in ("loa-1", "loa-2"):
        stack.register(d, ["thon-dong"])
        stack.start_agent(d)
    media = stack.upload(speech_wav)
    start = utcnow() + timedelta(seconds=12)
    assert stack.api.put("/api/schedules", json=one_off_at(start, media["sha256"])).json()[
        "applied"
    ]
    play_id = f"s-ban-tin-{start.astimezone(HCM):%Y%m%dT%H%M}"
    # the occurrence is a broadcast too, tracked per device, with the plan's play id
    done = wait_for(
        lambda: (lambda r: r.json() if r.status_code == 200 else None)(
            stack.api.get(f"/api/broadcasts/{play_id}")
        ),
        what="occurrence broadcast",
    )
    assert {d["device_id"] for d in done["deliveries"]} == {"loa-1", "loa-2"}
    done = stack.wait_states(play_id, {"played"}, timeout=40)
    assert all(d["acked_at"] for d in done["deliveries"])  # the live command reached them too
    for d in ("loa-1", "loa-2"):
        assert len(stack.output_files(d)) == 1, "plan and live command both played"
    assert len(stack.events(type="playback.finished", play_id=play_id)) == 2
    # a later tick (or a restarted controller) does not fire it again
    assert stack.services.firing.tick() == 0


def test_devices_registered_in_a_burst_each_get_their_plan(stack: Stack):
    """A change during a plan refresh makes it run again: none waits for the next period."""
    stack.add_zone("thon-dong")
    for i in range(12):
        stack.register(f"loa-{i}", ["thon-dong"])

    def planned() -> set[str]:
        with stack.services.sessions() as session:
            return {row.device_id for row in session.query(DevicePlan)}

    wait_for(
        lambda: planned() == {f"loa-{i}" for i in range(12)},
        timeout=20,
        what="a plan for every device",
    )
