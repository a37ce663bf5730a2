"""Clock truth: an agent whose clock is 250 ms behind reports it (here from its own SNTP
query; chrony or timesyncd first where they run) with its health and with each playback
start, so that skew can be judged on one clock; the device page shows it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from protocol.messages import utcnow
from tests.support.sntp import SntpServer
from tests.support.stack import Stack, wait_for


def test_an_agents_clock_offset_reaches_the_controller_with_health_and_plays(
    stack: Stack, speech_wav
):
    server = SntpServer(ahead_s=0.25).start()
    try:
        stack.add_zone("ban-na")
        stack.register("loa-na", ["ban-na"], ntp_server="127.0.0.1", ntp_port=server.port)
        stack.start_agent("loa-na")

        def health() -> dict | None:  # type: ignore[type-arg]
            h = stack.api.get("/api/devices/loa-na").json()["last_health"]
            return h if h and h.get("clock_source") else None

        h = wait_for(health, timeout=30, what="a health report with the clock's offset")
        if h["clock_source"] != "sntp":
            pytest.skip(f"this machine's own {h['clock_source']} answers first")
        assert h["clock_offset_ms"] == pytest.approx(250, abs=25)

        media = stack.upload(speech_wav)
        b = stack.broadcast(
            media["sha256"], ["zone:ban-na"], start_at=(utcnow() + timedelta(seconds=4)).isoformat()
        )
        stack.wait_states(b["id"], {"played"}, timeout=40)
        [started] = stack.events(type="playback.started", play_id=b["id"])
        offset = started["payload"]["clock_offset_ms"]
        assert offset == pytest.approx(250, abs=25)
        # nothing disciplines this clock, only the agent's own SNTP reading says it is 250 ms
        # behind: it placed the start 250 ms early on its own clock, so that in true time it
        # started at start_at (give or take a loaded machine's lateness)
        assert started["payload"]["clock_source"] == "offset"
        actual = datetime.fromisoformat(started["payload"]["actual_start"])
        scheduled = datetime.fromisoformat(started["payload"]["scheduled_start"])
        own = (actual - scheduled).total_seconds()
        assert own == pytest.approx(-0.25, abs=0.1)
        true_start = actual + timedelta(milliseconds=offset)
        assert (true_start - scheduled).total_seconds() >= -0.03  # never before its start
        assert (true_start - scheduled).total_seconds() == pytest.approx(own + offset / 1000)

        page = stack.api.get("/ui/devices/loa-na")
        assert page.status_code == 200
        assert 'id="clock-offset"' in page.text
        shown = re.search(r'id="clock-offset">[^<]*<strong>([+-]\d+) ms', page.text)
        assert shown
        assert int(shown.group(1)) == pytest.approx(250, abs=25)
    finally:
        server.stop()
