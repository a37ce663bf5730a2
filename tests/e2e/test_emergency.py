"""Emergencies: the audio is on the loudspeakers before the second person confirms, so the
confirmation only sends a small signed play; its lead comes from the fleet's measured
delivery time, not the fixed lead a download needs."""

from __future__ import annotations

from datetime import datetime

from tests.support.audio import make_speech
from tests.support.stack import Stack, wait_for


def test_a_waiting_emergency_is_prepared_on_every_device_and_plays_without_a_download(
    stack: Stack, speech_wav
):
    stack.add_zone("thon-dong")
    stack.add_zone("thon-tay")
    for device, zone in (("loa-1", "thon-dong"), ("loa-2", "thon-tay")):
        stack.register(device, [zone])
        stack.start_agent(device)
    media = stack.upload(speech_wav, title="Bão số 9")
    lan = stack.person("lan", "broadcaster")
    b = lan.post(
        "/api/broadcasts",
        json={"media_sha256": media["sha256"], "targets": ["all"], "priority": "emergency"},
    ).json()
    assert b["state"] == "pending_confirmation"
    # while it waits: fetched and reported ready by every device, nothing played
    waiting = wait_for(
        lambda: (
            lambda got: got if all(d["state"] == "media_ready" for d in got["deliveries"]) else None
        )(stack.get_broadcast(b["id"])),
        timeout=30,
        what="the emergency prepared everywhere",
    )
    assert waiting["state"] == "pending_confirmation"
    for device in ("loa-1", "loa-2"):
        cached = stack.configs[device].data_path / "cache" / f"{media['sha256']}.opus"
        assert cached.is_file()
        assert stack.output_files(device) == []
    prepared = stack.events(type="media.ready", play_id=b["id"])
    assert sum(e["payload"]["fetched_bytes"] for e in prepared) == 2 * media["size"]

    confirmed = stack.person("chu-tich", "approver").post(f"/api/broadcasts/{b['id']}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    # the play went to the broker before the confirmation was answered (no scheduler hop)
    assert confirmed.json()["state"] == "sent", confirmed.json()["state"]
    released = stack.get_broadcast(b["id"])
    lead = datetime.fromisoformat(released["start_at"]) - datetime.fromisoformat(
        released["approved_at"]
    )
    assert lead.total_seconds() < stack.services.settings.sync_lead_s  # no download to wait for
    stack.wait_states(b["id"], {"played"}, timeout=60)
    # on the critical path, the devices downloaded nothing
    ready = stack.events(type="media.ready", play_id=b["id"])
    assert len(ready) == 4
    assert sorted(e["payload"]["fetched_bytes"] for e in ready)[:2] == [0, 0]
    for device in ("loa-1", "loa-2"):
        assert len(stack.output_files(device)) == 1


def test_a_repeated_bulletin_restates_its_issue_time_and_a_cancel_stops_the_rest(
    stack: Stack, speech_wav, tmp_path
):
    stack.add_zone("thon-dong")
    stack.register("loa-1", ["thon-dong"])
    stack.start_agent("loa-1")
    media = stack.upload(speech_wav, title="Tin bão")
    # the update's new message, made before the series so that the update comes well before
    # the repetitions are sent (each is sent 10 s ahead of its start)
    other = stack.upload(
        make_speech(tmp_path / "cap-nhat.wav", "Bão đã đổi hướng."), title="Tin bão cập nhật"
    )
    r = stack.api.post(
        "/api/broadcasts",
        json={
            "media_sha256": media["sha256"],
            "targets": ["zone:thon-dong"],
            "priority": "priority",
            "repeat_every_s": 30,
            "repeat_for_s": 60,
        },
    )
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["series_id"] == first["id"]
    assert first["repeat_index"] == 0
    series = [first["id"], f"{first['id']}-r1", f"{first['id']}-r2"]
    repeats = [stack.get_broadcast(i) for i in series[1:]]
    starts = [datetime.fromisoformat(b["start_at"]) for b in [first, *repeats]]
    gaps = [(b - a).total_seconds() for a, b in zip(starts, starts[1:], strict=False)]
    assert gaps == [30.0, 30.0]
    # the repetitions say when the bulletin was issued, then the bulletin
    again = stack.api.get(f"/api/media/{repeats[0]['media_sha256']}").json()
    assert again["parts"][0]["text"].startswith("Bản tin phát lúc ")
    assert again["parts"][1]["media_sha256"] == media["sha256"]
    assert again["duration_ms"] > media["duration_ms"] + 2000
    # an update: the repetitions still to come get the new message, with the same issue time
    updated = stack.api.post(
        f"/api/broadcasts/{first['id']}/update", json={"media_sha256": other["sha256"]}
    )
    assert updated.status_code == 200
    assert updated.json() == series[1:]
    now_says = stack.api.get(f"/api/media/{stack.get_broadcast(series[1])['media_sha256']}").json()
    assert now_says["parts"][0]["text"] == again["parts"][0]["text"]  # the same issue time
    assert now_says["parts"][1]["media_sha256"] == other["sha256"]
    stack.wait_states(series[0], {"played"}, timeout=60)
    stack.wait_states(series[1], {"played"}, timeout=60)
    # cancelling the series after the second play stops the third
    assert stack.api.post(f"/api/broadcasts/{series[1]}/cancel").status_code == 200
    assert stack.get_broadcast(series[2])["state"] == "cancelled"
    played = stack.output_files("loa-1")
    assert len(played) == 2
    log = stack.api.get("/api/playback-log").json()
    assert {row["play_id"] for row in log} >= set(series[:2])


def test_one_action_siren_then_text_to_every_village_and_a_ready_correction(stack: Stack):
    stack.add_zone("thon-dong", "Thôn Đông")
    stack.register("loa-1", ["thon-dong"])
    stack.start_agent("loa-1")
    lan = stack.person("lan", "broadcaster")
    form = lan.get("/ui/emergency").text
    assert 'name="village" value="all" checked' in form
    assert 'value="siren" checked' in form
    sent = lan.post(
        "/ui/emergency",
        data={
            "title": "Lũ quét",
            "text": "Nước sông lên nhanh, bà con sơ tán ngay.",
            "intro": "siren",
            "village": "all",
        },
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    broadcast_id = sent.headers["location"].rsplit("/", 1)[1]
    b = stack.get_broadcast(broadcast_id)
    assert b["priority"] == "emergency"
    assert b["targets"] == ["all"]
    assert b["state"] == "pending_confirmation"
    media = stack.api.get(f"/api/media/{b['media_sha256']}").json()
    siren = stack.api.get(f"/api/media/{media['parts'][0]['media_sha256']}").json()
    assert siren["original_filename"] == "builtin:siren"
    assert siren["duration_ms"] >= 3900
    assert media["parts"][1]["text"] == "Nước sông lên nhanh, bà con sơ tán ngay."
    # the approver sees it waiting (the header's badge) and confirms it
    boss = stack.person("chu-tich", "approver")
    assert "1 tin khẩn cấp chờ xác nhận" in boss.get("/ui/emergency-badge").text
    assert boss.post(f"/api/broadcasts/{broadcast_id}/confirm").status_code == 200
    assert "hidden" in boss.get("/ui/emergency-badge").text
    stack.wait_states(broadcast_id, {"played"}, timeout=60)
    # a false alarm: the correction was made when the emergency was, and goes to the same
    # loudspeakers, again with two people
    fixed = lan.post(f"/api/broadcasts/{broadcast_id}/correction")
    assert fixed.status_code == 201, fixed.text
    correction = fixed.json()
    assert correction["targets"] == ["all"]
    assert correction["state"] == "pending_confirmation"
    said = stack.api.get(f"/api/media/{correction['media_sha256']}").json()
    assert said["text"].startswith("Xin bà con chú ý. Thông báo khẩn cấp vừa phát là")
    assert boss.post(f"/api/broadcasts/{correction['id']}/confirm").status_code == 200
    stack.wait_states(correction["id"], {"played"}, timeout=60)
    assert len(stack.output_files("loa-1")) == 2


def test_the_cli_sends_an_emergency_and_a_second_person_confirms_it(stack: Stack):
    import os
    import re
    import subprocess
    import sys

    stack.add_zone("thon-dong")
    stack.register("loa-1", ["thon-dong"])
    lan = stack.person("lan", "broadcaster")
    boss = stack.person("chu-tich", "approver")

    def cli(client, *args: str) -> subprocess.CompletedProcess[str]:
        token = client.headers["Authorization"].split()[1]
        env = {**os.environ, "LOALANG_URL": stack.base_url, "LOALANG_TOKEN": token}
        return subprocess.run(
            [sys.executable, "-m", "loalang.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    sent = cli(lan, "emergency", "--text", "Sạt lở đất ở đồi sau trường.", "--intro", "chime")
    assert sent.returncode == 0, sent.stderr
    broadcast_id = re.search(r"b-[0-9a-f]{12}", sent.stdout).group(0)
    listed = cli(boss, "approvals")
    assert "KHẨN CẤP / EMERGENCY" in listed.stdout
    assert broadcast_id in listed.stdout
    confirmed = cli(boss, "approvals", "confirm", broadcast_id)
    assert confirmed.returncode == 0, confirmed.stderr
    assert stack.get_broadcast(broadcast_id)["approved_by"] == "chu-tich"
