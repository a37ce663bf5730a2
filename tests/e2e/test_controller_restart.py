"""Controller restarts with broadcasts pending: each plays once, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import timedelta

from controller.db.models import Command
from protocol.messages import utcnow
from tests.support.stack import Stack


def test_restart_with_broadcasts_pending_plays_each_once(
    tmp_path, mosquitto, database_url, speech_wav
):
    stack = Stack(tmp_path, mosquitto.port, database_url=database_url, prefetch_lead_s=3).start()
    try:
        stack.add_zone("thon-dong")
        for d in ("loa-1", "loa-2"):
            stack.register(d, ["thon-dong"])
            stack.start_agent(d)
        media = stack.upload(speech_wav)
        # already sent when the controller goes down, starts while it is down or restarting
        sent = stack.broadcast(
            media["sha256"],
            ["zone:thon-dong"],
            start_at=(utcnow() + timedelta(seconds=3)).isoformat(),
        )
        # not yet sent when the controller goes down (send_at = start − 3 s)
        pending = stack.broadcast(
            media["sha256"],
            ["zone:thon-dong"],
            start_at=(utcnow() + timedelta(seconds=12)).isoformat(),
        )
        # its media fetched (served by the controller, which is about to go away)
        stack.wait_states(sent["id"], {"media_ready", "playing", "played"})
        assert stack.get_broadcast(pending["id"])["state"] == "scheduled"

        stack.restart_controller()

        # the agents send their backlog after a random pause once the controller is back
        # (flush_jitter_s, 10 s): on a loaded machine 30 s was once not enough
        stack.wait_states(sent["id"], {"played"}, timeout=60)
        stack.wait_states(pending["id"], {"played"}, timeout=60)
        time.sleep(2)
        for d in ("loa-1", "loa-2"):
            assert len(stack.output_files(d)) == 2, "a broadcast played twice or not at all"
        with stack.services.sessions() as session:
            for b in (sent, pending):
                commands = session.query(Command).filter_by(broadcast_id=b["id"]).count()
                assert commands == 1, f"{b['id']} was sent {commands} times"
        finished = stack.events(type="playback.finished")
        assert len(finished) == 4
        assert len({e["event_id"] for e in finished}) == 4
    finally:
        stack.stop()


def test_restart_with_a_schedule_occurrence_pending_fires_it_once(tmp_path, mosquitto, speech_wav):
    from zoneinfo import ZoneInfo

    stack = Stack(tmp_path, mosquitto.port, prefetch_lead_s=3).start()
    try:
        stack.add_zone("thon-dong")
        stack.register("loa-1", ["thon-dong"])
        stack.start_agent("loa-1")
        media = stack.upload(speech_wav)
        local = (utcnow() + timedelta(seconds=12)).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
        body = {
            "schedules": [
                {
                    "name": "tin",
                    "targets": ["zone:thon-dong"],
                    "start": local.strftime("%H:%M:%S"),
                    "date": local.date().isoformat(),
                    "programme": [{"media": media["sha256"]}],
                }
            ]
        }
        assert stack.api.put("/api/schedules", json=body).json()["applied"]
        play_id = f"s-tin-{local:%Y%m%dT%H%M}"
        stack.restart_controller()
        stack.restart_controller()
        stack.wait_states(play_id, {"played"}, timeout=40)
        time.sleep(2)
        with stack.services.sessions() as session:
            assert session.query(Command).filter_by(broadcast_id=play_id).count() == 1
        assert len(stack.output_files("loa-1")) == 1
    finally:
        stack.stop()
