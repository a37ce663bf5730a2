"""A home receiver beside a loudspeaker cluster in one village: the household's switch and
knob reach the station as they change; switched off, the receiver plays no bulletin and the
bulletin page says so in words; an emergency still sounds on it, at the station's floor volume
on its indoor scale (checked in the audio each device played)."""

from __future__ import annotations

import httpx
import numpy as np

from tests.support.audio import read_wav
from tests.support.stack import Stack, wait_for


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples**2)))


def _household(stack: Stack, device_id: str) -> dict | None:
    return stack.api.get(f"/api/devices/{device_id}").json()["household"]


def test_a_switched_off_receiver_skips_a_bulletin_in_words_and_an_emergency_still_sounds(
    stack: Stack, speech_wav
):
    stack.add_zone("thon-dong", "Thôn Đông")
    stack.register("loa-1", ["thon-dong"])
    stack.register("nha-1", ["thon-dong"], kind="receiver")
    stack.start_agent("loa-1")
    receiver = stack.start_agent("nha-1")
    assert receiver.local_control is not None
    buttons = f"http://127.0.0.1:{receiver.local_control.port}"
    # at its start the receiver reports where its knob stands (the config's 50 %)
    wait_for(lambda: _household(stack, "nha-1"), what="the household's controls reported")
    assert _household(stack, "nha-1")["on"] is True
    devices = {d["id"]: d for d in stack.api.get("/api/devices").json()}
    assert devices["nha-1"]["kind"] == "receiver"
    assert devices["loa-1"]["kind"] == "cluster"

    # the household's buttons: bad input refused in words, nothing changed
    bad = httpx.post(f"{buttons}/volume", json={"level": 300})
    assert bad.status_code == 400
    assert "0–100" in bad.json()["error"]
    assert httpx.get(buttons).json() == {"volume": 50, "on": True}
    off = httpx.post(f"{buttons}/power", json={"on": False})
    assert off.status_code == 200, off.text
    wait_for(
        lambda: (_household(stack, "nha-1") or {}).get("on") is False,
        what="the switch reported off",
    )
    page = stack.api.get("/ui/devices/nha-1")
    assert "Máy thu trong nhà" in page.text
    assert "đã tắt máy" in page.text

    media = stack.upload(speech_wav, title="Lịch tiêm chủng")
    normal = stack.broadcast(media["sha256"], ["zone:thon-dong"])
    done = stack.wait_states(normal["id"], {"played", "failed"}, timeout=60)
    states = {d["device_id"]: d for d in done["deliveries"]}
    assert states["loa-1"]["state"] == "played"
    assert states["nha-1"]["state"] == "failed"
    assert states["nha-1"]["reason"].startswith("household_off")
    assert len(stack.output_files("nha-1")) == 0
    bulletin = stack.api.get(f"/ui/broadcasts/{normal['id']}")
    assert "nhà dân đã tắt máy thu" in bulletin.text

    # the station's floor, changed by its admin: refused out of range, audited when changed
    bad_floor = stack.api.patch("/api/station", json={"receiver_floor": 101})
    assert bad_floor.status_code == 422
    floor = stack.api.patch("/api/station", json={"receiver_floor": 70})
    assert floor.status_code == 200, floor.text
    assert floor.json()["receiver_floor"] == 70
    audit = stack.api.get("/api/audit", params={"action": "station."}).json()
    assert any(e["action"] == "station.settings" for e in audit), audit

    # an emergency: both play; the receiver at the floor (70 % of its 40 % indoor scale)
    lan = stack.person("lan", "broadcaster")
    alert = lan.post(
        "/api/broadcasts",
        json={"media_sha256": media["sha256"], "targets": ["all"], "priority": "emergency"},
    ).json()
    confirmed = stack.person("chu-tich", "approver").post(f"/api/broadcasts/{alert['id']}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    stack.wait_states(alert["id"], {"played"}, timeout=60)
    cluster_audio = read_wav(stack.output_files("loa-1")[-1])
    home_audio = read_wav(stack.output_files("nha-1")[-1])
    assert len(stack.output_files("nha-1")) == 1
    ratio = _rms(home_audio) / _rms(cluster_audio)
    assert 0.24 < ratio < 0.32, ratio  # 0.7 × 0.4 of the cluster's (at the emergency volume)
    # the household still sees its switch as it left it
    assert httpx.get(buttons).json()["on"] is False
    # the station's report counts homes apart from the clusters
    totals = stack.api.get("/api/reports/station").json()["totals"]
    assert totals["homes"] == 1  # the emergency
    assert totals["homes_off"] == 1  # the bulletin the household did not hear
    assert totals["played"] == 3


def test_a_stream_only_receiver_is_given_the_channel_and_its_listening_is_its_proof(
    stack: Stack, speech_wav
):
    stack.add_zone("thon-dong", "Thôn Đông")
    stack.register("loa-1", ["thon-dong"])
    r = stack.api.post(
        "/api/devices",
        json={
            "id": "radio-1",
            "name": "Radio trường",
            "zones": ["thon-dong"],
            "kind": "stream_only",
        },
    )
    assert r.status_code == 201, r.text
    config = r.json()["config_toml"]
    assert "/kenh.ogg" in config
    assert "stream_url = " in config
    token = r.json()["token"]
    # never sent a command: a broadcast to its village reaches the cluster alone
    media = stack.upload(speech_wav, title="Thông báo")
    refused = stack.api.post(
        "/api/broadcasts", json={"media_sha256": media["sha256"], "targets": ["device:radio-1"]}
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "device.stream_only"
    assert "chỉ nghe luồng" in refused.json()["error"]["message"]
    village = stack.broadcast(media["sha256"], ["zone:thon-dong"])
    assert [d["device_id"] for d in village["deliveries"]] == ["loa-1"]
    # the stream server asks the controller; the receiver's connection is its proof
    key = stack.services.onair.auth_key
    ask = {"action": "listener_add", "mount": "/kenh.ogg", "client": "17", "user": "radio-1"}
    wrong = httpx.post(
        f"{stack.base_url}/icecast/auth?key={key}", data={**ask, "pass": "sai-mat-khau"}
    )
    assert "icecast-auth-user" not in wrong.headers
    came = httpx.post(f"{stack.base_url}/icecast/auth?key={key}", data={**ask, "pass": token})
    assert came.headers.get("icecast-auth-user") == "1"
    left = {"action": "listener_remove", "mount": "/kenh.ogg", "client": "17"}
    httpx.post(f"{stack.base_url}/icecast/auth?key={key}", data=left)
    page = stack.api.get("/ui/devices/radio-1").text
    assert "Máy thu chỉ nghe luồng" in page
    assert "Kết nối từ" in page
    assert "đang nghe" not in page  # it left
