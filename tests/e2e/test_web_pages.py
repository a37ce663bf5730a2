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
    home = lan.get("/ui/").text  # a village with no bulletin yet is listed, and says so
    assert 'data-zone="thon-dong" data-worst="none"' in home
    assert "Chưa có bản tin nào" in home
    icon = lan.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"] == "image/svg+xml"
    b = lan.post(
        "/api/broadcasts",
        json={"media_sha256": sha, "targets": ["zone:thon-dong"], "title": "Tin sáng"},
    ).json()
    approvals = lan.get("/ui/approvals").text
    assert "Thôn Đông" in approvals
    assert "zone:thon-dong" not in approvals
    page = lan.get(f"/ui/broadcasts/{b['id']}").text
    assert "Thôn Đông" in page
    assert "zone:thon-dong" not in page
    fleet = lan.get("/ui/fleet").text
    assert "Thôn Đông" in fleet
    assert "Cụm loa loa-1" in fleet


def test_fleet_page_plots_the_online_ratio_from_samples(stack: Stack):
    stack.add_zone("thon-dong")
    for device in ("loa-1", "loa-2"):
        stack.register(device, ["thon-dong"])
    stack.start_agent("loa-1")
    stack.start_agent("loa-2")
    wait_for(
        lambda: all(d["status"] == "online" for d in stack.api.get("/api/devices").json()),
        what="both online",
    )
    history.record(stack.services.sessions)
    stack.agents.pop("loa-2").stop()  # a clean shutdown: "stopped", not online either
    wait_for(
        lambda: stack.api.get("/api/devices/loa-2").json()["status"] == "stopped",
        what="loa-2 stopped",
    )
    history.record(stack.services.sessions)
    page = stack.person("minh", "technician").get("/ui/fleet").text
    figure = page.split('id="online-ratio"')[1].split("</figure>")[0]
    assert "Tỉ lệ trực tuyến: 50 %" in page  # the latest sample: one of two online
    points = re.search(r'<polyline points="([^"]+)"', figure).group(1).split()
    assert len(points) == 2
    heights = [float(p.split(",")[1]) for p in points]
    assert heights[0] < heights[1]  # 100 % drawn higher than 50 %
    assert ">100 %<" in figure
    assert ">0 %<" in figure


def test_admin_registers_a_cluster_from_the_form_and_gets_its_config_once(stack: Stack):
    import tomllib

    from edge_agent.config import AgentConfig

    stack.add_zone("thon-dong", "Thôn Đông")
    admin = stack.person("quan-tri", "admin")
    setup = admin.get("/ui/setup")
    assert setup.status_code == 200
    assert "Thôn Đông" in setup.text

    # bad input: a message in Vietnamese, nothing stored
    bad = admin.post("/ui/setup/devices", data={"id": "Loa Đông!", "name": "", "latitude": "91"})
    assert bad.status_code == 422
    for message in ("Mã chỉ gồm chữ thường", "Hãy nhập tên cụm loa", "Hãy chọn ít nhất một thôn"):
        assert message in bad.text
    bad_place = admin.post(
        "/ui/setup/devices",
        data={
            "id": "loa-dong-2",
            "name": "Chợ",
            "zones": "thon-dong",
            "latitude": "91",
            "longitude": "105",
        },
    )
    assert bad_place.status_code == 422
    assert "Toạ độ không hợp lệ" in bad_place.text
    assert stack.api.get("/api/devices").json() == []

    ok = admin.post(
        "/ui/setup/devices",
        data={
            "id": "loa-dong-2",
            "name": "Cụm loa chợ",
            "zones": "thon-dong",
            "latitude": "9.18",
            "longitude": "105.15",
        },
    )
    assert ok.status_code == 200
    assert ok.headers["cache-control"] == "no-store"
    # no public URL set: the page says the config only works on this machine
    assert 'id="no-public-url"' in ok.text
    assert "LOALANG_PUBLIC_URL" in ok.text
    config_text = ok.text.split('<pre id="agent-config">')[1].split("</pre>")[0]
    import html

    config = tomllib.loads(html.unescape(config_text))
    assert config["device_id"] == "loa-dong-2"
    assert config["zones"] == ["thon-dong"]
    assert "/edge/install.sh | sudo bash" in ok.text
    device = stack.api.get("/api/devices/loa-dong-2").json()
    assert device["latitude"] == 9.18
    assert device["zones"] == ["thon-dong"]
    dup = admin.post(
        "/ui/setup/devices", data={"id": "loa-dong-2", "name": "x", "zones": "thon-dong"}
    )
    assert dup.status_code == 422
    assert "đã tồn tại" in dup.text

    # the config shown works: an agent started from it comes online
    config.update(data_dir=str(stack.tmp / "agents" / "loa-dong-2"), output={"backend": "file"})
    stack.configs["loa-dong-2"] = AgentConfig.from_dict(config)
    stack.start_agent("loa-dong-2")
    wait_for(
        lambda: stack.api.get("/api/devices/loa-dong-2").json()["status"] == "online",
        what="enrolled agent online",
    )

    # new credentials: a new config, the old token refused
    rotated = admin.post("/ui/devices/loa-dong-2/rotate-token")
    new_token = tomllib.loads(
        html.unescape(rotated.text.split('<pre id="agent-config">')[1].split("</pre>")[0])
    )["token"]
    assert new_token != config["token"]
    log = [(e["action"], e["target"]) for e in stack.api.get("/api/audit").json()]
    assert ("device.register", "loa-dong-2") in log
    assert ("device.rotate_token", "loa-dong-2") in log

    # a technician sees the settings but not the admin chores; a broadcaster sees neither
    tech = stack.person("minh", "technician").get("/ui/devices/loa-dong-2").text
    assert 'id="volume-form"' in tech
    assert "rotate-token" not in tech
    assert (
        'id="volume-form"'
        not in stack.person("lan", "broadcaster").get("/ui/devices/loa-dong-2").text
    )
    assert stack.person("lan2", "technician").get("/ui/setup").status_code == 403


def test_zone_rename_keeps_its_id(stack: Stack):
    stack.add_zone("thon-dong", "Thon Dong")
    admin = stack.person("quan-tri", "admin")
    r = admin.patch("/api/zones/thon-dong", json={"name": "Thôn Đông"})
    assert r.status_code == 200
    assert r.json()["name"] == "Thôn Đông"
    assert admin.patch("/api/zones/khong-co", json={"name": "x"}).status_code == 404
    assert admin.patch("/api/zones/thon-dong", json={"name": ""}).status_code == 422
    assert stack.api.get("/api/zones").json()[0] == {
        "id": "thon-dong",
        "name": "Thôn Đông",
        "device_count": 0,
        "geocodes": [],
        "languages": ["vi"],
    }


def _routine_form(sha: str, **fields: str | list[str]) -> dict[str, str | list[str]]:
    form: dict[str, str | list[str]] = {
        "title": "Bản tin sức khoẻ",
        "name": "suc-khoe",
        "villages": ["thon-dong"],
        "start": "18:15",
        "repeat": "weekly",
        "days": ["MO", "TH"],
        "priority": "normal",
        "item-0": sha,
    }
    form.update(fields)
    return form


def test_routine_edited_in_the_browser_waits_for_an_approver(stack: Stack, speech_wav):
    stack.add_zone("thon-dong", "Thôn Đông")
    sha = stack.upload(speech_wav, "Tin sức khoẻ")["sha256"]
    lan = stack.person("lan", "broadcaster")
    chu_tich = stack.person("chu-tich", "approver")
    assert "Tin sức khoẻ" in lan.get("/ui/routine/new").text  # the media library to pick from

    # bad input: the form again with every problem in Vietnamese; nothing stored or proposed
    bad = lan.post("/ui/routine", data=_routine_form(sha, title="", days=[], **{"item-0": ""}))
    assert bad.status_code == 422
    for message in (
        "Hãy nhập tiêu đề",
        "ít nhất một ngày trong tuần",
        "Hãy chọn ít nhất một bản tin",
    ):
        assert message in bad.text
    assert stack.api.get("/api/schedule-changes").json() == []

    proposed = lan.post("/ui/routine", data=_routine_form(sha), follow_redirects=False)
    assert proposed.status_code == 303
    assert "done=proposed" in proposed.headers["location"]
    assert stack.api.get("/api/schedules").json()["schedules"] == []  # not yet
    approvals = chu_tich.get("/ui/approvals").text
    assert "Thứ Hai, Thứ Năm lúc 18:15" in approvals
    assert "Thôn Đông" in approvals
    assert "Tin sức khoẻ" in approvals  # the bulletin by its title, not its hash
    assert f'src="/media/{sha}"' in approvals  # and the approver can listen to it
    change_id = stack.api.get("/api/schedule-changes").json()[0]["id"]
    assert chu_tich.post(f"/api/schedule-changes/{change_id}/approve").status_code == 200
    stored = stack.api.get("/api/schedules/suc-khoe").json()
    assert stored["rrule"] == "FREQ=WEEKLY;BYDAY=MO,TH"
    assert stored["targets"] == ["zone:thon-dong"]
    assert stored["programme"] == [{"media": sha}]
    page = lan.get("/ui/routine").text
    assert "Thứ Hai, Thứ Năm lúc 18:15" in page
    assert "/ui/routine/suc-khoe/edit" in page
    week = lan.get("/ui/week").text  # the calendar names the schedule by its title
    assert "Bản tin sức khoẻ" in week
    assert '<a href="/ui/routine#s-suc-khoe">' in week

    # a rejected change shows the approver's reason to the broadcaster
    lan.post("/ui/routine", data=_routine_form(sha, original="suc-khoe", start="21:30"))
    pending = stack.api.get("/api/schedule-changes", params={"state": "pending"}).json()
    chu_tich.post(
        f"/api/schedule-changes/{pending[0]['id']}/reject", json={"reason": "Quá muộn, dân đã ngủ"}
    )
    decided = lan.get("/ui/routine").text.split("Thay đổi gần đây đã xử lý")[1]
    assert "Bị từ chối" in decided
    assert "Quá muộn, dân đã ngủ" in decided
    assert "Đã duyệt" in decided

    # a new schedule may not silently replace one with the same id
    again = lan.post("/ui/routine", data=_routine_form(sha))
    assert again.status_code == 422
    assert "Đã có lịch mã" in again.text


def test_approver_edits_the_routine_directly_and_sees_conflicts_in_words(stack: Stack, speech_wav):
    stack.add_zone("thon-dong", "Thôn Đông")
    sha = stack.upload(speech_wav, "Tin sáng")["sha256"]
    chu_tich = stack.person("chu-tich", "approver")
    saved = chu_tich.post(
        "/ui/routine", data=_routine_form(sha, repeat="daily", days=[]), follow_redirects=False
    )
    assert "done=saved" in saved.headers["location"]
    missing = chu_tich.get("/ui/routine/khong-co/edit")
    assert missing.status_code == 404
    assert "text/html" in missing.headers["content-type"]
    assert "khong-co" in missing.text
    assert chu_tich.get("/api/schedules/khong-co").json()["error"]["code"] == "schedule.not_found"
    edit = chu_tich.get("/ui/routine/suc-khoe/edit").text
    assert 'value="18:15"' in edit
    assert 'name="original" value="suc-khoe"' in edit
    clash = chu_tich.post(
        "/ui/routine", data=_routine_form(sha, name="trung-gio", repeat="daily", days=[])
    )
    assert clash.status_code == 422
    assert "Trùng giờ với lịch khác" in clash.text
    moved = chu_tich.post(
        "/ui/routine",
        data=_routine_form(sha, original="suc-khoe", start="19:00", repeat="daily", days=[]),
        follow_redirects=False,
    )
    assert "done=saved" in moved.headers["location"]
    assert stack.api.get("/api/schedules/suc-khoe").json()["start"] == "19:00:00"
    # a programme longer than the blank form's rows keeps every item through an edit
    long = {f"item-{i}": sha for i in range(8)}
    chu_tich.post(
        "/ui/routine",
        data=_routine_form(
            sha, original="suc-khoe", start="19:00", repeat="daily", days=[], **long
        ),
    )
    assert len(stack.api.get("/api/schedules/suc-khoe").json()["programme"]) == 8
    edit = chu_tich.get("/ui/routine/suc-khoe/edit").text
    assert 'name="item-8"' in edit
    assert 'name="item-9"' not in edit
    deleted = chu_tich.post("/ui/routine/suc-khoe/delete", follow_redirects=False)
    assert "done=deleted" in deleted.headers["location"]
    assert stack.api.get("/api/schedules").json()["schedules"] == []
    log = [(e["action"], e["outcome"]) for e in stack.api.get("/api/audit").json()]
    assert log.count(("schedule.put", "ok")) == 3
    assert ("schedule.put", "failed") in log
    assert ("schedule.delete", "ok") in log
    only = stack.api.get("/ui/audit", params={"action": "schedule.", "actor": "chu-tich"}).text
    rows = only.split("<tbody>")[1]
    assert rows.count("<tr") == 5
    assert "schedule.delete" in rows
    assert "user.create" not in rows
    assert 'href="/api/audit/export.csv?actor=chu-tich&amp;action=schedule."' in only


def test_all_villages_in_the_send_form_reaches_every_loudspeaker(stack: Stack, speech_wav):
    stack.add_zone("thon-dong", "Thôn Đông")
    stack.add_zone("thon-tay", "Thôn Tây")
    stack.register("loa-1", ["thon-dong"])
    stack.register("loa-2", ["thon-tay"])
    boss = stack.person("chu-tich", "approver")
    assert "Tất cả các thôn" in boss.get("/ui/send").text
    sent = boss.post(
        "/ui/send",
        data={"title": "Tin cả xã", "village": "*", "when": "now", "priority": "normal"},
        files={"file": ("tin.wav", speech_wav.read_bytes(), "audio/wav")},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    job_id = sent.headers["location"].rsplit("/", 1)[1]
    job = wait_for(
        lambda: (j := stack.api.get(f"/api/jobs/{job_id}").json())["broadcast_id"] and j,
        timeout=60,
        what="the bulletin made",
    )
    made = stack.get_broadcast(job["broadcast_id"])
    assert made["targets"] == ["all"]
    assert sorted(d["device_id"] for d in made["deliveries"]) == ["loa-1", "loa-2"]


def test_a_bulletin_saved_as_a_draft_waits_for_its_author(stack: Stack, speech_wav):
    stack.add_zone("thon-dong", "Thôn Đông")
    stack.register("loa-1", ["thon-dong"])
    lan = stack.person("lan", "broadcaster")
    saved = lan.post(
        "/ui/send",
        data={
            "title": "Tin nháp",
            "village": "thon-dong",
            "when": "now",
            "priority": "normal",
            "action": "draft",
        },
        files={"file": ("tin.wav", speech_wav.read_bytes(), "audio/wav")},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert saved.headers["location"].startswith("/ui/jobs/")
    job_id = saved.headers["location"].rsplit("/", 1)[1]
    wait_for(
        lambda: stack.api.get(f"/api/jobs/{job_id}").json()["state"] == "done",
        timeout=60,
        what="the upload prepared",
    )
    done = lan.get(f"/ui/jobs/{job_id}")  # a finished job's page leads on to its bulletin
    assert done.status_code == 303
    page = lan.get(done.headers["location"])
    assert "Bản nháp: chưa gửi đi" in page.text
    assert "/submit" in page.text
    broadcast_id = done.headers["location"].rsplit("/", 1)[1]
    assert stack.get_broadcast(broadcast_id)["state"] == "draft"
    assert "Tin nháp" not in stack.person("chu-tich", "approver").get("/ui/approvals").text
    assert (
        "/submit"
        not in stack.person("hoa", "broadcaster").get(f"/ui/broadcasts/{broadcast_id}").text
    )  # only its author can send it on


def test_a_rejected_bulletin_says_who_and_why_in_words_and_can_be_edited_again(
    stack: Stack, speech_wav
):
    stack.add_zone("thon-dong", "Thôn Đông")
    stack.register("loa-1", ["thon-dong"])
    sha = stack.upload(speech_wav, "Tin sáng")["sha256"]
    lan = stack.person("lan", "broadcaster")
    boss = stack.person("chu-tich", "approver")
    b = lan.post(
        "/api/broadcasts",
        json={"media_sha256": sha, "targets": ["zone:thon-dong"], "title": "Tin sáng"},
    ).json()
    page = lan.get(f"/ui/broadcasts/{b['id']}").text
    assert "Ngay khi được duyệt" in page  # not the time it was made
    empty = boss.post(
        f"/api/broadcasts/{b['id']}/reject",
        json={"reason": "  "},
        headers={"Accept-Language": "vi"},
    )
    assert empty.status_code == 422
    assert empty.json()["error"]["message"] == "Hãy ghi lý do từ chối để người gửi biết cần sửa gì."
    assert (
        boss.post(f"/api/broadcasts/{b['id']}/reject", json={"reason": "sai ngày họp"}).status_code
        == 200
    )
    page = lan.get(f"/ui/broadcasts/{b['id']}").text
    assert "✗ từ chối bởi Chu-Tich" in page
    assert "✓" not in page
    assert "bị từ chối: sai ngày họp" in page
    assert "rejected:" not in page
    assert f'href="/ui/send?again={b["id"]}"' in page  # Sửa và gửi lại
    form = lan.get(f"/ui/send?again={b['id']}").text
    assert 'name="kept_sha" value="' + sha in form  # the same audio, kept, ready to send
    assert 'value="thon-dong" checked' in form


def test_the_fleet_counts_finds_sorts_says_what_plays_how_old_readings_are_and_alarms_silence(
    stack: Stack, speech_dir
):
    from datetime import timedelta

    from protocol.messages import utcnow
    from tests.support.audio import make_speech

    stack.add_zone("thon-dong", "Thôn Đông")
    for d in ("loa-1", "loa-2", "loa-3"):
        stack.register(d, ["thon-dong"])
    stack.start_agent("loa-1")
    stack.start_agent("loa-2")
    minh = stack.person("minh", "technician")
    wait_for(lambda: "Trực tuyến: 2" in minh.get("/ui/fleet").text, what="two online")
    stack.agents["loa-2"].kill()  # a power cut: the broker's last will says offline
    wait_for(lambda: "Mất kết nối: 1" in minh.get("/ui/fleet").text, what="one offline")
    fleet = minh.get("/ui/fleet").text
    assert "Tổng số: 3" in fleet
    assert "Chưa rõ: 1" in fleet
    assert "Trực tuyến: 1" in fleet
    assert ": 33 %</h2>" in fleet  # the online ratio now, not the last sample's 100 %
    found = minh.get("/ui/fleet", params={"q": "loa-2"}).text
    assert 'data-device="loa-2"' in found
    assert 'data-device="loa-1"' not in found
    ordered = minh.get("/ui/fleet", params={"sort": "state"}).text
    assert ordered.index('data-device="loa-2"') < ordered.index('data-device="loa-1"')

    long = stack.upload(
        make_speech(speech_dir / "dai-fleet.wav", "Kính thưa bà con. " * 10), "Tin dài"
    )
    b = stack.broadcast(long["sha256"], ["device:loa-1"], title="Tin dài")
    stack.wait_states(b["id"], {"playing"})
    assert "Đang phát: Tin dài" in minh.get("/ui/fleet/table").text

    # loa-2's last readings are shown with their time, and flagged once they are old
    assert stack.services is not None
    with stack.services.sessions.begin() as session:
        from controller.db.models import Device

        row = session.get(Device, "loa-2")
        assert row is not None
        row.last_health_at = utcnow() - timedelta(hours=2)
        row.status_at = utcnow() - timedelta(minutes=30)
    table = minh.get("/ui/fleet/table", params={"q": "loa-2"}).text
    assert "số liệu lúc" in table
    assert "số liệu cũ" in table
    assert "phiên bản " in table  # the agent's version, as its status said
    raised, _ = stack.services.alarms.check_offline(10)
    assert raised == 1
    alarms = [a for a in stack.alarms() if a["code"] == "device_offline"]
    assert [a["device_id"] for a in alarms] == ["loa-2"]
    assert "Cụm loa mất kết nối quá lâu" in minh.get("/ui/alarms").text
    assert stack.services.alarms.check_offline(10) == (0, 0)  # raised once
    stack.start_agent("loa-2")
    wait_for(lambda: stack.api.get("/api/devices/loa-2").json()["status"] == "online", what="back")
    assert stack.services.alarms.check_offline(10) == (0, 1)  # and cleared when it is back


def test_the_routine_form_in_plain_words_and_the_approvers_diff(stack: Stack, speech_wav):
    stack.add_zone("thon-dong", "Thôn Đông")
    stack.add_zone("thon-tay", "Thôn Tây")
    sha = stack.upload(speech_wav, "Tin sức khoẻ")["sha256"]
    lan = stack.person("lan", "broadcaster")
    boss = stack.person("chu-tich", "approver")
    form = lan.get("/ui/routine/new").text
    assert "Tên lịch phát" in form
    assert form.count('name="item-') == 1
    more = lan.post("/ui/routine", data=_routine_form(sha, name="", action="add_row"))
    assert more.text.count('<select id="item-') == 3  # its item, a spare row, one added
    assert stack.api.get("/api/schedule-changes").json() == []
    # no code typed: made from the name; days off written day/month/year
    made = boss.post(
        "/ui/routine",
        data=_routine_form(
            sha, name="", title="Bản tin sức khoẻ đầu tuần", except_dates="06/02/2027, 07/02/2027"
        ),
        follow_redirects=False,
    )
    assert made.status_code == 303
    assert "name=ban-tin-suc-khoe-dau-tuan" in made.headers["location"]
    stored = stack.api.get("/api/schedules/ban-tin-suc-khoe-dau-tuan").json()
    assert stored["except_dates"] == ["2027-02-06", "2027-02-07"]
    # a broadcaster's edit: the approver sees what changes, before and after
    lan.post(
        "/ui/routine",
        data=_routine_form(
            sha,
            original="ban-tin-suc-khoe-dau-tuan",
            title="Bản tin sức khoẻ đầu tuần",
            start="19:00",
            villages=["thon-dong", "thon-tay"],
            except_dates="06/02/2027, 07/02/2027",
        ),
    )
    page = boss.get("/ui/approvals").text
    diff = page[page.index('class="diff"') : page.index("</table>", page.index('class="diff"'))]
    assert "18:15" in diff
    assert "19:00" in diff
    assert "<del>Thôn Đông</del>" in diff
    assert "<ins>Thôn Đông, Thôn Tây</ins>" in diff
    assert "Ưu tiên" not in diff
    assert "Mức ưu tiên" not in diff


def test_a_province_fleet_is_paged_counted_whole_and_filtered_before_paging(stack: Stack):
    from controller.db.models import Device, DeviceZone
    from controller.services.devices import FLEET_PAGE_SIZE

    stack.add_zone("thon-dong", "Thôn Đông")
    stack.add_zone("thon-tay", "Thôn Tây")
    n = FLEET_PAGE_SIZE * 2 + 50
    assert stack.services is not None
    with stack.services.sessions.begin() as session:  # a province, straight into the table
        session.add_all(
            Device(
                id=f"loa-{i:04d}",
                name=f"Cụm {i:04d}",
                token_hash="-",
                capabilities=[],
                status="offline" if i % 7 == 0 else "online",
            )
            for i in range(n)
        )
        session.flush()
        session.add_all(
            DeviceZone(device_id=f"loa-{i:04d}", zone_id="thon-dong" if i % 2 else "thon-tay")
            for i in range(n)
        )
    minh = stack.person("minh", "technician")
    first = minh.get("/ui/fleet").text
    assert f"Tổng số: {n}" in first  # counts are the whole fleet's
    assert first.count('data-device="') == FLEET_PAGE_SIZE
    assert "Trang 1/3" in first
    assert 'rel="next"' in first
    assert 'rel="prev"' not in first
    last = minh.get("/ui/fleet", params={"page": 3}).text
    assert last.count('data-device="') == 50
    assert f'data-device="loa-{n - 1:04d}"' in last
    assert minh.get("/ui/fleet", params={"page": 99}).text.count('data-device="') == 50
    # filters apply before paging: thon-dong's offline ones, all on one page
    want = [i for i in range(n) if i % 2 and i % 7 == 0]
    found = minh.get("/ui/fleet/table", params={"zone": "thon-dong", "state": "offline"}).text
    assert found.count('data-device="') == len(want)
    assert f"{len(want)} cụm loa khớp bộ lọc" in found
    assert "Trang" not in found
    # the JSON API pages by id
    page = stack.api.get(
        "/api/devices", params={"offset": 10, "limit": 5, "zone": "thon-tay"}
    ).json()
    assert [d["id"] for d in page] == [f"loa-{i:04d}" for i in range(20, 30, 2)]
    assert stack.api.get("/api/devices", params={"limit": 0}).status_code == 422
    assert stack.api.get("/api/devices", params={"offset": 2**63}).status_code == 422


def test_a_loudness_warning_is_said_only_while_its_author_can_still_record_again(
    stack: Stack, speech_wav
):
    """Issue 29: the loudness figures are technical details, not a fact on every bulletin;
    a recording still off target after adjustment is told in words, with a way to record
    again, while it waits for approval, and not once it has been sent."""
    from controller.db.models import Media

    stack.add_zone("thon-dong", "Thôn Đông")
    stack.register("loa-1", ["thon-dong"])
    media = stack.upload(speech_wav, "Tin nhỏ")
    assert stack.services is not None
    with stack.services.sessions.begin() as session:  # as a whispered recording leaves it
        row = session.get(Media, media["sha256"])
        assert row is not None
        row.loudness_warning, row.loudness_out_lufs = "media.loudness_off", -23.2
    lan = stack.person("lan", "broadcaster")
    held = lan.post(
        "/api/broadcasts", json={"media_sha256": media["sha256"], "targets": ["zone:thon-dong"]}
    ).json()
    sent = stack.broadcast(media["sha256"], ["zone:thon-dong"])  # the station's own: no hold

    page = lan.get(f"/ui/broadcasts/{held['id']}").text
    assert "Độ to (LUFS)" not in page
    assert re.search(
        r'id="loudness-warning">Bản ghi này nhỏ hơn các bản tin khác khoảng 7 dB', page
    )
    assert 'href="/ui/send">Ghi lại</a>' in page
    assert "bản gốc" in page
    assert "khi phát -23.2 LUFS (mức chuẩn của đài -16 LUFS)" in page
    page = lan.get(f"/ui/broadcasts/{sent['id']}").text
    assert 'id="loudness-warning"' not in page  # nothing to do about it any more
    assert "khi phát -23.2 LUFS" in page  # (still there, folded away, for a technician)


def test_pages_use_the_words_a_broadcaster_uses(stack: Stack, speech_wav):
    """Issue 29: no "line 2: 0 mA", "0 MB free", "(espeak-ng)", "RFC 5545", "line-in",
    "BUTT, Mixxx", "mount", "Tệp wheel", "tải CPU", "?" for a version; people by their full
    names; village codes made from names; STOP at the foot of the fleet page, explained."""
    from datetime import UTC, datetime

    from controller.db.models import Alarm

    admin = stack.api
    for name, code in (("Thôn Đông", "thon-dong"), ("Thôn Đông", "thon-dong-2")):
        r = admin.post("/api/zones", json={"id": "", "name": name})  # the form's empty code
        assert r.status_code == 201, r.text
        assert r.json()["id"] == code
    stack.register("loa-1", ["thon-dong"])  # never connects
    assert stack.services is not None
    with stack.services.sessions.begin() as session:  # as the agent reports them
        now = datetime.now(UTC)
        session.add_all(
            [
                Alarm(
                    device_id="loa-1",
                    key="speaker_line:1",
                    code="speaker_line",
                    channel=1,
                    value=0,
                    detail="line 2: 0 mA",
                    raised_at=now,
                ),
                Alarm(
                    device_id="loa-1",
                    key="disk_low",
                    code="disk_low",
                    value=0,
                    detail="0 MB free",
                    raised_at=now,
                ),
            ]
        )
    sha = stack.upload(speech_wav, "Tin sáng")["sha256"]
    lan = stack.person("lan", "broadcaster")
    lan.post("/api/broadcasts", json={"media_sha256": sha, "targets": ["zone:thon-dong"]})
    boss = stack.person("chu-tich", "approver")
    tech = stack.person("minh", "technician")

    alarms = tech.get("/ui/alarms").text
    assert "đường loa số 2: loa hỏng hoặc đứt dây" in alarms
    assert "bộ nhớ đã đầy, không nhận thêm bản tin" in alarms
    approvals = boss.get("/ui/approvals").text
    assert "<p>Lan · <strong>" in approvals  # the full name, not "lan"
    history = boss.get("/ui/broadcasts").text
    assert "<td>Lan</td>" in history
    speech = lan.get("/ui/send").text
    assert "Giọng máy miền Bắc (ngoại tuyến)" in speech
    routine = boss.get("/ui/routine/new").text
    live = lan.get("/ui/live").text
    fleet = tech.get("/ui/fleet").text
    device = tech.get("/ui/devices/loa-1").text
    updates = admin.get("/ui/updates").text
    assert "Cách lặp khác (cho kỹ thuật viên)" in routine
    assert "Chưa kết nối lần nào" in updates
    assert "Chưa có bản cập nhật nào" in updates
    assert 'action="/ui/updates/rollouts"' not in updates  # nothing to start without one
    for page in (alarms, approvals, speech, routine, live, fleet, device, updates):
        for jargon in (
            " mA",
            "MB free",
            "espeak-ng",
            "RFC 5545",
            "RRULE",
            "line-in",
            "BUTT",
            "Mixxx",
            "mount",
            "Tệp wheel",
            "tải CPU",
            "<td>?</td>",
        ):
            assert jargon not in page, jargon
    # the safety stop is there, explained, after what a technician reads first
    assert fleet.index('id="stop-all"') > fleet.index('id="fleet-table"')
    assert "Chỉ khi loa phát nhầm" in fleet


def test_an_approver_pins_a_storm_message_from_the_page_and_sees_who_holds_it(
    stack: Stack, speech_wav
):
    """Issue 30: the pinned set made from a page — a text read after the siren, or a recording
    — with the CAP words that sound it at once; the clusters behind are named."""
    stack.add_zone("thon-dong", "Thôn Đông")
    stack.register("loa-1", ["thon-dong"])
    stack.start_agent("loa-1")
    stack.register("loa-2", ["thon-dong"])  # never started: it cannot hold the set
    recording = stack.upload(speech_wav, "Lũ quét — lên chỗ cao")
    hoa = stack.person("hoa", "approver")
    page = hoa.get("/ui/pinned").text
    assert 'href="/ui/pinned"' in page  # in the approver's menu
    assert 'id="pinned-none"' in page

    bad = hoa.post("/ui/pinned", data={"title": "Bão", "text": "", "intro": "siren"})
    assert bad.status_code == 422  # nothing to say
    assert 'id="pinned-none"' in bad.text
    assert stack.api.get("/api/pinned").json()["messages"] == []

    made = hoa.post(
        "/ui/pinned",
        data={
            "title": "Bão — sơ tán ngay",
            "text": "Bão mạnh sắp đổ bộ. Bà con sơ tán ngay đến nơi an toàn.",
            "intro": "siren",
            "words": "Bão, áp thấp nhiệt đới, ",
        },
    )
    assert made.status_code == 303, made.text
    taken = hoa.post(
        "/ui/pinned",
        data={
            "title": "Lũ quét",
            "recording": recording["sha256"],
            "intro": "none",
            "position": "1",
        },
    )
    assert taken.status_code == 303, taken.text
    got = stack.api.get("/api/pinned").json()
    assert got["version"] == 2
    [bao, lu] = got["messages"]
    assert (bao["id"], bao["cap_words"]) == ("bao-so-tan", ["bão", "áp thấp nhiệt đới"])
    assert bao["duration_ms"] > 4000  # the siren, then the words
    assert (lu["id"], lu["media_sha256"]) == ("lu-quet", recording["sha256"])
    page = wait_for(
        lambda: (lambda html: html if "1/2 cụm loa đã giữ đủ" in html else None)(
            hoa.get("/ui/pinned").text
        ),
        timeout=60,
        what="loa-1 holding the set",
    )
    assert "Bản 2: 1/2 cụm loa đã giữ đủ" in page
    behind = page.split('id="pinned-behind"')[1].split("</ul>")[0]
    assert "loa-2" in behind
    assert "loa-1" not in behind
    assert "mã SMS bao-so-tan, SMS tự động phát tin này" in page
    assert "chỉ phát bằng SMS" in page  # the flood message has no words

    # a technician reads it and cannot change it; a broadcaster has no such page
    tech = stack.person("tuan", "technician")
    assert "Bỏ ghim" not in tech.get("/ui/pinned").text
    assert tech.post("/ui/pinned/lu-quet/remove").status_code == 403
    removed = hoa.post("/ui/pinned/lu-quet/remove")
    assert removed.status_code == 303
    assert [m["id"] for m in stack.api.get("/api/pinned").json()["messages"]] == ["bao-so-tan"]
