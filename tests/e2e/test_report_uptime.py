"""The report's uptime after outages made on purpose: a cluster cut off for a measured time
shows that many minutes offline, a controller stopped for a measured time is said as the
station's own downtime and counted against no cluster, and the month is counted up to now."""

from __future__ import annotations

import time
from datetime import datetime

from sqlalchemy import func, select

from controller.db.models import ControllerRun
from tests.support.stack import wait_for


def _status(stack, device_id: str) -> str:
    return stack.api.get(f"/api/devices/{device_id}").json()["status"]


def _runs(stack) -> int:
    assert stack.services is not None
    with stack.services.sessions() as session:
        return session.scalar(select(func.count()).select_from(ControllerRun)) or 0


def test_uptime_matches_a_measured_outage_of_a_cluster_and_of_the_controller(stack):
    stack.add_zone("na", "Bản Nà")
    before_registering = time.monotonic()
    for d in ("loa-1", "loa-2"):
        stack.register(d, ["na"])
    for d in ("loa-1", "loa-2"):
        stack.start_agent(d)
        wait_for(lambda d=d: _status(stack, d) == "online", what=f"{d} online")
    registered = time.monotonic()
    # offline until first online, as any registered cluster is (seconds; 3 s for rounding)
    first_online = registered - before_registering + 3

    # loa-2 loses power for a measured time: the broker tells the controller at once (its will)
    stack.agents.pop("loa-2").kill()
    cut = time.monotonic()
    wait_for(lambda: _status(stack, "loa-2") == "offline", what="loa-2 offline")
    time.sleep(10)
    stack.start_agent("loa-2")
    wait_for(lambda: _status(stack, "loa-2") == "online", what="loa-2 back")
    outage_s = time.monotonic() - cut

    # the controller itself is stopped for a measured time; both clusters stay up meanwhile
    stopped = time.monotonic()
    stack.stop_controller()
    time.sleep(8)
    stack.start()
    wait_for(lambda: _runs(stack) == 2, what="the new controller leading")
    controller_down_s = time.monotonic() - stopped

    r = stack.api.get("/api/reports/station")  # this month, so far
    assert r.status_code == 200, r.text
    report = r.json()
    clusters = {c["device_id"]: c for c in report["clusters"]}
    watched_s = time.monotonic() - registered  # at most this much of the month is counted
    until = datetime.fromisoformat(report["counted_until"])
    assert until <= datetime.fromisoformat(report["generated_at"])

    print(  # (shown with -s: the figures the issue asks to match)
        f"loa-2 outage measured {outage_s:.1f} s, reported {clusters['loa-2']['offline_min']} min;"
        f" controller stopped {controller_down_s:.1f} s"
    )
    # the cluster's outage, to the second it was measured at (the figure is rounded to 6 s)
    assert abs(clusters["loa-2"]["offline_min"] * 60 - outage_s) <= 8, (clusters, outage_s)
    # the controller's downtime is its own: it wrote a last beat as it stopped
    (gap,) = report["controller_down"]
    down = (
        datetime.fromisoformat(gap["end"]) - datetime.fromisoformat(gap["start"])
    ).total_seconds()
    assert 8 <= down <= controller_down_s + 0.5, (down, controller_down_s)
    assert report["totals"]["controller_down_min"] == round(down / 60, 1)
    print(f"controller downtime reported {down:.1f} s")
    # ...and counted against no cluster: loa-1 was never cut off
    assert clusters["loa-1"]["offline_min"] * 60 <= first_online, (clusters, first_online)
    watched = watched_s - controller_down_s
    assert clusters["loa-1"]["online_ratio"] >= 1 - first_online / watched
    # loa-2's ratio is its online time over the time watched (not the month, not the time
    # the controller was down)
    expected = 1 - outage_s / watched
    assert abs(clusters["loa-2"]["online_ratio"] - expected) < 0.15, (clusters, expected)

    # no figures for days to come (the month's chart stops at today)
    today = until.date().isoformat()
    counted = [d["day"] for d in report["days"] if d["online_ratio"] is not None]
    assert today in counted
    assert all(day <= today for day in counted)  # (two days only just past midnight)

    # the page says the same in words, opening on this month
    page = stack.person("ky-thuat", "technician").get("/ui/reports")
    assert page.status_code == 200
    assert "Máy chủ của đài ngừng hoạt động" in page.text
    assert "Tháng chưa hết: số liệu tính đến" in page.text
