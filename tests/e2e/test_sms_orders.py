"""When the data link is gone: pinned messages on every cluster, and a signed SMS — through
the station's modem, the SMS network and the cluster's modem, simulated on ptys — that sounds
one. Forged and repeated SMS never play; everything is reported once the link is back."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from firmware_bridge.modem_simulator import ModemSimulator, SmsNetwork
from tests.support.mosquitto import Mosquitto
from tests.support.stack import Stack, wait_for

STATION = "+84900000000"
PHONES = {"loa-a": "+84911000001", "loa-b": "+84911000002"}


@pytest.fixture
def storm(tmp_path: Path, mosquitto: Mosquitto):
    network = SmsNetwork(delay_s=(0.2, 1.5), seed=7)
    modems = {
        name: ModemSimulator(tmp_path / "modems" / name).start() for name in ("station", *PHONES)
    }
    network.attach(STATION, modems["station"])
    for device, phone in PHONES.items():
        network.attach(phone, modems[device])
    stack = Stack(
        tmp_path,
        mosquitto.port,
        sms_modem_port=str(modems["station"].port),
        sms_fallback_after_s=3.0,
    ).start()
    for device, zone in (("loa-a", "thon-a"), ("loa-b", "thon-b")):
        stack.add_zone(zone)
        stack.register(device, [zone], modem={"port": str(modems[device].port), "poll_s": 5})
        stack.start_agent(device)
        r = stack.api.put(f"/api/devices/{device}/phone", json={"phone": PHONES[device]})
        assert r.status_code == 200, r.text
        where = {"latitude": 21.3 + len(zone) / 100, "longitude": 105.5 + ord(zone[-1]) / 1000}
        assert stack.api.put(f"/api/devices/{device}/location", json=where).is_success
    yield stack, network, modems
    stack.stop()
    for modem in modems.values():
        modem.stop()


def _seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def _orders(stack: Stack, **params: str) -> list[dict]:
    return stack.api.get("/api/sms", params=params).json()


def test_a_pinned_message_sounds_on_a_signed_sms_with_the_data_link_gone(storm, speech_wav):
    stack, network, modems = storm
    media = stack.upload(speech_wav, title="Bão: sơ tán")
    pinned = stack.api.put(
        "/api/pinned/bao", json={"title": "Bão — sơ tán ngay", "media_sha256": media["sha256"]}
    )
    assert pinned.status_code == 200, pinned.text
    assert pinned.json()["version"] == 1
    held = wait_for(
        lambda: (lambda got: got if all(d["current"] for d in got["devices"]) else None)(
            stack.api.get("/api/pinned").json()
        ),
        timeout=30,
        what="every cluster holding the pinned set",
    )
    assert {d["device_id"]: d["held_version"] for d in held["devices"]} == {
        "loa-a": 1,
        "loa-b": 1,
    }
    # the set carries the station's floor for home receivers (an SMS-played emergency is as
    # loud indoors as a broadcast one); an admin's new floor goes out with it at once
    assert {a.pinned.receiver_floor for a in stack.agents.values()} == {60}
    assert stack.api.patch("/api/station", json={"receiver_floor": 75}).status_code == 200
    wait_for(
        lambda: {a.pinned.receiver_floor for a in stack.agents.values()} == {75},
        timeout=30,
        what="the new floor held with the pinned set",
    )
    # the technician's device page: the set held, the modem working (and its number)
    page = wait_for(
        lambda: (lambda html: html if "sóng -73 dBm" in html else None)(
            stack.api.get("/ui/devices/loa-a").text
        ),
        timeout=30,
        what="the modem's readings on the device page",
    )
    assert "Tin khẩn cấp ghim sẵn: đủ, bản 1</span>" in page
    assert "Modem nhận SMS: hoạt động, mạng Viettel, sóng -73 dBm (+84911000001)" in page
    # the data link goes; the pinned audio stays (never evicted)
    agent = stack.agents["loa-a"]
    agent.link.kill()
    agent.cache.evict(keep=set())
    assert agent.cache.has(media["sha256"])

    sent = stack.api.post("/api/sms", json={"targets": ["device:loa-a"], "message": "bao"})
    assert sent.status_code == 201, sent.text
    [order] = sent.json()["orders"]
    assert (order["state"], order["channel"], order["message"]) == ("sent", "modem", "bao")
    assert sent.json()["no_phone"] == []
    text = network.sent[-1][2]
    assert network.sent[-1][:2] == (STATION, PHONES["loa-a"])
    assert text.startswith("LL1 P D")
    assert len(text) <= 160
    wait_for(lambda: stack.last_play_end("loa-a"), timeout=30, what="the pinned message played")
    [played] = stack.output_files("loa-a")
    assert abs(_seconds(played) - media["duration_ms"] / 1000) < 1.0

    # the same SMS again (the network's copy), a forged one, and one for another cluster
    modems["loa-a"].receive(STATION, text)
    forged = text[:-6] + ("AAAAAA" if not text.endswith("AAAAAA") else "BBBBBB")
    modems["loa-a"].receive("+84999999999", forged)
    network.submit(STATION, PHONES["loa-a"], _for_other(stack, "loa-b"))
    wait_for(lambda: agent.modem.received >= 4, timeout=20, what="the three SMS read")
    assert len(stack.output_files("loa-a")) == 1  # nothing else played
    assert agent.sms.duplicates == 1

    # the link is back (the agent restarts on the same disk): everything is reported
    agent.stop()
    again = stack.start_agent("loa-a")
    assert again.pinned.held_version == 1
    reported = wait_for(
        lambda: (lambda o: o if o[0]["state"] == "played" else None)(
            [x for x in _orders(stack) if x["seq"] == order["seq"]]
        ),
        timeout=30,
        what="the SMS play reported",
    )
    assert reported[0]["played_at"] is not None
    alarms = wait_for(
        lambda: [a for a in stack.alarms(device_id="loa-a") if a["code"] == "security"],
        timeout=20,
        what="the forged SMS reported as a security matter",
    )
    assert "sms" in alarms[0]["detail"]
    events = stack.events(type="sms", device_id="loa-a")
    assert sorted(e["payload"]["outcome"] for e in events) == ["accepted", "refused", "refused"]
    assert sorted(e["payload"]["reason"] for e in events) == ["", "bad_signature", "wrong_target"]


def _for_other(stack: Stack, device: str) -> str:
    """A valid order for another cluster (signed by the station), as if misdelivered."""
    sent = stack.api.post("/api/sms", json={"targets": [f"device:{device}"], "message": "bao"})
    assert sent.status_code == 201, sent.text
    return _text_of(stack, sent.json()["orders"][0]["seq"])


def _text_of(stack: Stack, seq: int) -> str:
    from controller.db.storm import SmsOrder

    assert stack.services is not None
    with stack.services.sessions() as session:
        row = session.get(SmsOrder, seq)
        assert row is not None
        return row.text


def test_an_emergency_a_cluster_does_not_start_goes_to_it_by_sms(storm, speech_wav):
    stack, network, modems = storm
    media = stack.upload(speech_wav, title="Lũ quét")
    assert stack.api.put(
        "/api/pinned/lu-quet", json={"title": "Lũ quét", "media_sha256": media["sha256"]}
    ).is_success
    wait_for(
        lambda: all(d["current"] for d in stack.api.get("/api/pinned").json()["devices"]),
        timeout=30,
        what="the pinned set held",
    )
    lan = stack.person("lan", "broadcaster")
    b = lan.post(
        "/api/broadcasts",
        json={"media_sha256": media["sha256"], "targets": ["all"], "priority": "emergency"},
    ).json()
    wait_for(
        lambda: all(
            d["state"] == "media_ready" for d in stack.get_broadcast(b["id"])["deliveries"]
        ),
        timeout=30,
        what="the emergency prepared (and acknowledged) everywhere",
    )
    stack.agents["loa-b"].link.kill()  # then loa-b's data link goes; loa-a's stays up
    confirmed = stack.person("chu-tich", "approver").post(f"/api/broadcasts/{b['id']}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    [order] = wait_for(
        lambda: _orders(stack, broadcast_id=b["id"]), timeout=30, what="the SMS fallback"
    )
    assert order["device_id"] == "loa-b"  # none for loa-a: its MQTT link acknowledged
    wait_for(lambda: stack.output_files("loa-b"), timeout=30, what="loa-b sounding by SMS")
    wait_for(lambda: stack.output_files("loa-a"), timeout=30, what="loa-a sounding over MQTT")
    assert [t for _, t, _ in network.sent if t != STATION] == [PHONES["loa-b"]]
    # the broadcaster's page says it in words; once loa-b's link is back, that it played
    page = lan.get(f"/ui/broadcasts/{b['id']}").text
    assert "Gửi qua SMS" in page
    assert "Cụm loa loa-b</strong>: đã gửi tin nhắn lúc" in page
    # the storm view: reached over the data link, or sent an SMS not yet heard of
    reach = page.split('id="storm-reach"')[1].split("</ul>")[0]
    assert "<strong>1 cụm loa nhận qua mạng dữ liệu</strong>" in reach
    assert "<strong>1 cụm loa đã được gửi SMS, chưa báo lại" in reach
    assert "</strong>: Cụm loa loa-b</li>" in reach
    assert 'class="dot reach-sms_sent"><title>Cụm loa loa-b</title>' in page  # on the map
    assert 'class="dot reach-mqtt"><title>Cụm loa loa-a</title>' in page
    stack.agents["loa-b"].stop()
    stack.start_agent("loa-b")
    wait_for(
        lambda: _orders(stack, broadcast_id=b["id"])[0]["state"] == "played",
        timeout=30,
        what="the SMS play reported",
    )
    page = lan.get(f"/ui/broadcasts/{b['id']}").text
    assert "Cụm loa loa-b</strong>: đã phát tin ghim nhờ tin nhắn lúc" in page
    assert "<strong>1 cụm loa nhận qua SMS</strong>: Cụm loa loa-b</li>" in page
    assert "chưa nhận được" not in page


def test_an_sms_fm_order_relays_the_frequency_with_the_boards_tuner(storm, tmp_path):
    """Issue 30 item 3: with the data link gone, a signed SMS sets the cluster's own tuner on
    the province's or VOV's frequency for the order's time; a cluster without a tuner refuses
    it (fm_unsupported); a STOP by SMS ends it."""
    from firmware_bridge.simulator import McuSimulator

    stack, network, modems = storm
    board = McuSimulator(tmp_path / "ttyMCU", channels=2).start()
    try:
        modems["loa-fm"] = ModemSimulator(tmp_path / "modems" / "loa-fm").start()
        network.attach("+84911000003", modems["loa-fm"])
        stack.add_zone("thon-fm")
        stack.register(
            "loa-fm",
            ["thon-fm"],
            modem={"port": str(modems["loa-fm"].port), "poll_s": 5},
            hardware={"backend": "mcu", "port": str(board.port), "lead_s": 0.5, "hold_s": 0.5},
        )
        agent = stack.start_agent("loa-fm")
        assert stack.api.put("/api/devices/loa-fm/phone", json={"phone": "+84911000003"}).is_success
        wait_for(lambda: board.received, what="the agent talking to its board")
        agent.link.kill()  # the storm takes the data link

        bad = stack.api.post("/api/sms", json={"targets": ["all"], "action": "fm", "fm_mhz": 120})
        assert bad.status_code == 422
        sent = stack.api.post(
            "/api/sms",
            json={
                "targets": ["device:loa-fm", "device:loa-a"],
                "action": "fm",
                "fm_mhz": 100.0,
                "fm_minutes": 5,
            },
        )
        assert sent.status_code == 201, sent.text
        assert {o["message"] for o in sent.json()["orders"]} == {"100000"}
        wait_for(lambda: board.state.source == 1, timeout=30, what="the tuner on the amplifiers")
        assert board.state.fm_10khz == 10000
        wait_for(lambda: board.state.amplifiers == 0b11, what="both channels on, one by one")
        assert board.state.source == 1  # (still the tuner once the switching is over)
        stopped = stack.api.post("/api/sms", json={"targets": ["device:loa-fm"], "action": "stop"})
        assert stopped.status_code == 201, stopped.text
        wait_for(lambda: board.state.amplifiers == 0, timeout=30, what="STOP by SMS")
        assert board.state.source == 0

        # the link is back: loa-fm says it relayed FM, loa-a (no tuner) that it could not
        agent.stop()
        stack.start_agent("loa-fm")
        events = wait_for(
            lambda: (lambda e: e if len(e) == 2 else None)(
                stack.events(type="sms", device_id="loa-fm")
            ),
            timeout=30,
            what="loa-fm's SMS reported",
        )
        assert sorted(e["payload"]["action"] for e in events) == ["fm", "stop"]
        assert {e["payload"]["outcome"] for e in events} == {"accepted"}
        played = wait_for(
            lambda: stack.events(type="playback.finished", device_id="loa-fm"),
            timeout=30,
            what="the FM relay's report",
        )[0]["payload"]
        assert played["stream_urls"] == ["fm:100000"]
        assert played["interrupted"]  # cut short by the STOP
        assert stack.events(type="security", device_id="loa-fm") == []  # its reports believed
        refused = wait_for(
            lambda: stack.events(type="sms", device_id="loa-a"), timeout=40, what="loa-a's"
        )
        assert [(e["payload"]["outcome"], e["payload"]["reason"]) for e in refused] == [
            ("refused", "fm_unsupported")
        ]
    finally:
        board.stop()
