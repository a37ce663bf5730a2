"""An emergency on a station that is on air: it interrupts the bulletin and the relay that
play, from audio the devices cached before confirmation, and a loudspeaker that comes back
after the start joins in step with the others instead of starting from the beginning."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from protocol.messages import utcnow
from tests.support.audio import as_played, correlation, decode, make_speech, read_wav
from tests.support.icecast import Icecast
from tests.support.stack import Stack, wait_for

LONG_TEXT = (
    "Kính thưa bà con, sau đây là bản tin nông nghiệp của xã. Thời tiết tuần này "
    "thuận lợi cho việc gieo cấy lúa vụ đông. Bà con chú ý thăm đồng thường xuyên, "
    "phát hiện sâu bệnh sớm và báo cho cán bộ khuyến nông của xã để được hướng dẫn."
)


def _started(stack: Stack, device: str) -> dict | None:
    got = [e for e in stack.events(type="playback.started") if e["device_id"] == device]
    return got[0] if got else None


def _prepared_everywhere(stack: Stack, broadcast_id: str) -> dict | None:
    b = stack.get_broadcast(broadcast_id)
    return b if all(d["state"] == "media_ready" for d in b["deliveries"]) else None


def test_a_confirmed_emergency_interrupts_a_bulletin_and_a_relay_and_plays_from_its_cache(
    stack: Stack, icecast: Icecast, tmp_path: Path
):
    icecast.feed("vov1.ogg", 440)
    wait_for(lambda: icecast.mount_up("vov1.ogg"), what="vov1 up", timeout=60)
    stack.add_zone("thon-dong")
    stack.add_zone("thon-tay")
    for device, zone in (("loa-1", "thon-dong"), ("loa-2", "thon-tay")):
        stack.register(device, [zone])
        stack.start_agent(device)
    # on air: a long bulletin in Thôn Đông, the VOV relay in Thôn Tây
    bulletin = stack.upload(make_speech(tmp_path / "nong-nghiep.wav", LONG_TEXT), "Nông nghiệp")
    assert bulletin["duration_ms"] > 12_000
    normal = stack.broadcast(bulletin["sha256"], ["zone:thon-dong"])
    r = stack.schedule_once(
        "tiep-song-vov",
        "Tiếp sóng VOV1",
        ["zone:thon-tay"],
        utcnow() + timedelta(seconds=6),
        [{"relay": icecast.url("vov1.ogg"), "duration_s": 60}],
    )
    assert r.status_code == 200, r.text
    assert r.json()["applied"], r.text
    # the emergency is made and waits for the second person, already on both devices
    alert = stack.upload(
        make_speech(tmp_path / "lu.wav", "Lũ quét, bà con sơ tán ngay."), "Lũ quét"
    )
    lan = stack.person("lan", "broadcaster")
    b = lan.post(
        "/api/broadcasts",
        json={"media_sha256": alert["sha256"], "targets": ["all"], "priority": "emergency"},
    ).json()
    wait_for(lambda: _prepared_everywhere(stack, b["id"]), timeout=30, what="prepared")
    relay = wait_for(lambda: _started(stack, "loa-2"), timeout=30, what="relay on air")
    assert _started(stack, "loa-1")["play_id"] == normal["id"]
    wait_for(
        lambda: (
            utcnow()
            > datetime.fromisoformat(relay["payload"]["actual_start"]) + timedelta(seconds=2)
        ),
        what="two seconds of relay",
    )

    assert (
        stack.person("chu-tich", "approver").post(f"/api/broadcasts/{b['id']}/confirm").status_code
        == 200
    )
    stack.wait_states(b["id"], {"played"}, timeout=30)

    for device, play_id in (("loa-1", normal["id"]), ("loa-2", relay["play_id"])):
        [done] = [
            e["payload"]
            for e in stack.events(type="playback.finished", play_id=play_id)
            if e["device_id"] == device and e["payload"]["interrupted"]
        ]
        assert done["interrupted_by"] == f"emergency:{b['id']}"
    # the resume rule: the bulletin (its window still open) replays from its start and the
    # relay (its slot still on) rejoins VOV, each once the emergency is over
    for device, play_id in (("loa-1", normal["id"]), ("loa-2", relay["play_id"])):
        [back] = wait_for(
            lambda device=device, play_id=play_id: [
                e["payload"]
                for e in stack.events(type="playback.started", play_id=play_id)
                if e["device_id"] == device and e["payload"].get("resumed_after")
            ],
            timeout=30,
            what=f"{device} back on air",
        )
        assert back["resumed_after"] == f"emergency:{b['id']}"
    # the emergency came from the cache the prepare filled: nothing downloaded on release
    ready = [
        e["payload"]["fetched_bytes"] for e in stack.events(type="media.ready", play_id=b["id"])
    ]
    assert sorted(ready) == [0, 0, alert["size"], alert["size"]]
    deliveries = {d["device_id"]: d for d in stack.get_broadcast(b["id"])["deliveries"]}
    for device in ("loa-1", "loa-2"):
        [emergency_wav] = [p for p in stack.output_files(device) if b["id"] in p.name]
        score, _ = correlation(
            read_wav(emergency_wav),
            as_played(
                decode(stack.configs[device].data_path / "cache" / f"{alert['sha256']}.opus"),
                deliveries[device],
            ),
        )
        assert score > 0.9


def test_a_loudspeaker_back_after_the_start_joins_in_step_with_the_others(
    stack: Stack, tmp_path: Path
):
    stack.add_zone("thon-dong")
    for device in ("loa-1", "loa-2"):
        stack.register(device, ["thon-dong"])
        stack.start_agent(device)
    stack.agents["loa-2"].stop()  # its power is cut; the broker keeps its session
    alert = stack.upload(make_speech(tmp_path / "bao.wav", LONG_TEXT), "Bão số 9")
    lan = stack.person("lan", "broadcaster")
    b = lan.post(
        "/api/broadcasts",
        json={"media_sha256": alert["sha256"], "targets": ["all"], "priority": "emergency"},
    ).json()
    assert (
        stack.person("chu-tich", "approver").post(f"/api/broadcasts/{b['id']}/confirm").status_code
        == 200
    )
    start_at = datetime.fromisoformat(stack.get_broadcast(b["id"])["start_at"])
    wait_for(lambda: _started(stack, "loa-1"), timeout=30, what="loa-1 on air")
    wait_for(lambda: utcnow() > start_at + timedelta(seconds=3), what="three seconds in")

    stack.start_agent("loa-2")  # power back: the play is still in its window
    played = stack.wait_states(b["id"], {"played"}, timeout=60)

    late = _started(stack, "loa-2")["payload"]
    assert late["joined_late_ms"] >= 3000
    into = (datetime.fromisoformat(late["actual_start"]) - start_at).total_seconds() * 1000
    assert abs(into - late["joined_late_ms"]) < 150  # joined where the others had got to
    assert _started(stack, "loa-1")["payload"]["joined_late_ms"] is None
    delivery = {d["device_id"]: d for d in played["deliveries"]}
    assert delivery["loa-2"]["joined_late_ms"] == late["joined_late_ms"]
    assert delivery["loa-2"]["played_ms"] < delivery["loa-1"]["played_ms"] - 2500
    # what it played is the rest of what loa-1 played, sample for sample
    [first] = stack.output_files("loa-1")
    [joined] = stack.output_files("loa-2")
    whole = read_wav(first)
    offset = round(late["joined_late_ms"] * 48)
    score, lag = correlation(read_wav(joined), whole[offset:])
    assert score > 0.9
    assert abs(lag) <= 480
    page = lan.get(f"/ui/broadcasts/{b['id']}").text
    assert "vào muộn" in page
