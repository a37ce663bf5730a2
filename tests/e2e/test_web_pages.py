"""The web pages as HTML over real HTTP (a person's token, as a browser's session would be):
names people know instead of ids, the fleet's online-ratio plot, admin chores, the routine."""

from __future__ import annotations

import re

from controller.fleet import history
from tests.support.stack import Stack, wait_for


def test_pages_name_villages_and_loudspeakers_not_ids(stack: Stack, speech_wav):
    stack.add_zone("thon-dong", "Thôn Đông")
    stack.register("loa-1", ["thon-dong"])
    stack.start_agent("loa-1")
    sha = stack.upload(speech_wav, "Tin sáng")["sha256"]
    lan = stack.person("lan", "broadcaster")
    b = lan.post("/api/broadcasts", json={"media_sha256": sha, "targets": ["zone:thon-dong"],
                                         "title": "Tin sáng"}).json()
    approvals = lan.get("/ui/approvals").text
    assert "Thôn Đông" in approvals and "zone:thon-dong" not in approvals
    page = lan.get(f"/ui/broadcasts/{b['id']}").text
    assert "Thôn Đông" in page and "zone:thon-dong" not in page
    fleet = lan.get("/ui/fleet").text
    assert "Thôn Đông" in fleet and "Cụm loa loa-1" in fleet


def test_fleet_page_plots_the_online_ratio_from_samples(stack: Stack):
    stack.add_zone("thon-dong")
    for device in ("loa-1", "loa-2"):
        stack.register(device, ["thon-dong"])
    stack.start_agent("loa-1")
    stack.start_agent("loa-2")
    wait_for(lambda: all(d["status"] == "online" for d in stack.api.get("/api/devices").json()),
             what="both online")
    history.record(stack.services.sessions)
    stack.agents.pop("loa-2").stop()
    wait_for(lambda: stack.api.get("/api/devices/loa-2").json()["status"] == "offline",
             what="loa-2 offline")
    history.record(stack.services.sessions)
    page = stack.person("minh", "technician").get("/ui/fleet").text
    figure = page.split('id="online-ratio"')[1].split("</figure>")[0]
    assert "Tỉ lệ trực tuyến: 50 %" in page  # the latest sample: one of two online
    points = re.search(r'<polyline points="([^"]+)"', figure).group(1).split()
    assert len(points) == 2
    heights = [float(p.split(",")[1]) for p in points]
    assert heights[0] < heights[1]  # 100 % drawn higher than 50 %
    assert ">100 %<" in figure and ">0 %<" in figure  # a fixed 0–100 % scale
