"""The technician's story against the MCU simulator on a real pty: amplifiers powered only
around plays, speaker lines checked in every play, alarms that reach the controller."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from firmware_bridge.simulator import NOMINAL_LINE_MA, McuSimulator
from protocol.messages import utcnow
from tests.support.stack import Stack, wait_for


@pytest.fixture
def board(tmp_path: Path) -> Iterator[McuSimulator]:
    sim = McuSimulator(tmp_path / "ttyMCU", channels=2).start()
    yield sim
    sim.stop()


def _cluster(stack: Stack, board: McuSimulator, device_id: str = "loa-1") -> None:
    stack.add_zone("thon-dong")
    stack.register(
        device_id,
        ["thon-dong"],
        hardware={
            "backend": "mcu",
            "port": str(board.port),
            "lead_s": 3.0,  # (1 s of channel gap: the rest is slack for a loaded machine)
            "hold_s": 1.0,
            "poll_s": 1.0,
        },
    )
    stack.start_agent(device_id)


def _ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def _open_alarms(stack: Stack, **params) -> dict[str, dict]:
    return {a["key"]: a for a in stack.alarms(**params)}


def test_amplifiers_on_before_and_off_after_a_play_with_proof_of_play(
    stack: Stack, board, speech_wav
):
    _cluster(stack, board)
    media = stack.upload(speech_wav)
    wait_for(lambda: board.received, what="agent talking to the board")
    assert board.state.amplifiers == 0  # idle: amplifiers off
    # a start far enough ahead for the amplifiers' lead (lead_s 3 s) on a loaded machine:
    # warming up never holds the player back, so a command that arrives late starts on time
    start = (utcnow() + timedelta(seconds=7)).isoformat()
    b = stack.broadcast(media["sha256"], ["zone:thon-dong"], start_at=start)
    d = stack.wait_states(b["id"], {"played"})["deliveries"][0]
    wait_for(lambda: len(board.amplifier_log) >= 4, what="amplifiers switched off again")
    # one channel at a time (channel_gap_s, 0.5 s by default), off in reverse
    assert [mask for _, mask in board.amplifier_log[:4]] == [0b01, 0b11, 0b01, 0b00]
    (first_on, _), (all_on, _), (first_off, _), (all_off, _) = board.amplifier_log[:4]
    assert all_on - first_on >= 0.4
    assert all_off - first_off >= 0.4
    assert all_on < _ts(d["started_at"])  # every channel powered before the audio
    assert first_off > _ts(d["ended_at"])  # and none cut before it ended
    assert d["line_check"] == {"line_ma": [NOMINAL_LINE_MA] * 2, "dead_channels": []}
    finished = stack.events(type="playback.finished", play_id=b["id"])[0]
    assert finished["payload"]["line_check"]["line_ma"] == [NOMINAL_LINE_MA] * 2
    assert stack.alarms() == []


def test_dead_speaker_line_raises_an_alarm_a_technician_acknowledges(
    stack: Stack, board, speech_wav
):
    _cluster(stack, board)
    media = stack.upload(speech_wav)
    board.kill_line(1)
    start = (utcnow() + timedelta(seconds=7)).isoformat()  # its media fetched in time
    b = stack.broadcast(media["sha256"], ["zone:thon-dong"], start_at=start)
    d = stack.wait_states(b["id"], {"played"})["deliveries"][0]
    assert d["line_check"] == {"line_ma": [NOMINAL_LINE_MA, 0], "dead_channels": [1]}
    # the pages say it played with a fault, not a green "Đã phát"
    import httpx

    stack.person("lan", "broadcaster")
    web = httpx.Client(base_url=stack.base_url, timeout=60)
    assert (
        web.post("/auth/login", json={"username": "lan", "password": "lan-secret-pw"}).status_code
        == 200
    )
    page = web.get(f"/ui/broadcasts/{b['id']}").text
    assert "Đã phát nhưng có lỗi đường loa: đường loa 2 không có dòng điện" in page
    assert 'data-outcome="fault"' in page
    assert 'data-outcome="played"' not in page
    assert 'data-zone="thon-dong" data-worst="fault"' in web.get("/ui/").text
    wait_for(
        lambda: (
            (
                (stack.api.get("/api/devices/loa-1").json()["last_health"] or {}).get(
                    "last_line_check"
                )
                or {}
            ).get("dead_channels")
            == [1]
        ),
        what="the last play's lines in the device's health",
    )
    alarm = wait_for(lambda: _open_alarms(stack).get("speaker_line:1"), what="line alarm")
    assert alarm["device_id"] == "loa-1"
    assert alarm["cleared_at"] is None
    assert stack.api.get("/api/devices/loa-1").json()["active_alarms"] == 1

    r = stack.api.post(
        f"/api/alarms/{alarm['id']}/ack", json={"by": "kỹ thuật Minh", "note": "thay loa thôn Đông"}
    )
    assert r.status_code == 200
    assert r.json()["acknowledged_by"] == "kỹ thuật Minh"
    assert "speaker_line:1" in _open_alarms(stack)  # seen, but still active
    assert _open_alarms(stack, state="unacknowledged") == {}
    assert stack.api.post("/api/alarms/999999/ack", json={"by": "x"}).status_code == 404

    board.state.dead_lines.clear()  # the technician replaced the horn
    again = stack.broadcast(media["sha256"], ["zone:thon-dong"])
    stack.wait_states(again["id"], {"played"})
    wait_for(lambda: "speaker_line:1" not in _open_alarms(stack), what="alarm cleared")
    history = _open_alarms(stack, state="all")["speaker_line:1"]
    assert history["cleared_at"] is not None
    assert history["occurrences"] == 1


def test_mains_door_and_temperature_reach_the_controller_with_readings(stack: Stack, board):
    _cluster(stack, board)
    board.lose_mains()
    board.open_door()
    board.overheat(720)
    alarms = wait_for(
        lambda: (
            (a := _open_alarms(stack))
            and {"mains_lost", "door_open", "over_temperature"} <= set(a)
            and a
        ),
        what="mains, door and temperature alarms",
    )
    assert alarms["over_temperature"]["value"] == 72.0
    hw = wait_for(
        lambda: (
            (
                (stack.api.get("/api/devices/loa-1").json()["last_health"] or {}).get("hardware")
                or {}
            ).get("mains")
            is False
            and stack.api.get("/api/devices/loa-1").json()["last_health"]["hardware"]
        ),
        what="readings in the health report",
    )
    assert hw["connected"]
    assert hw["battery_v"] == 12.4
    assert hw["door_open"] is True
    assert hw["temperature_c"] == 72.0
    assert hw["firmware"] == "sim-1.0"
    assert hw["amplifiers"] == [False, False]
    assert hw["input"] == "ip"
    health = stack.api.get("/api/devices/loa-1").json()["last_health"]
    assert health["network"]["type"] in ("ethernet", "wifi", "cellular", "unknown")

    board.restore_mains()
    wait_for(
        lambda: "mains_lost" not in _open_alarms(stack, state="active"), what="mains alarm cleared"
    )
    assert "door_open" in _open_alarms(stack, state="active")

    # the technician reads them in words, by the cluster's name, also on the cluster's page
    minh = stack.person("minh", "technician")
    page = minh.get("/ui/alarms").text
    for words in ("Cửa tủ loa đang mở", "Tủ loa quá nóng", "Mất điện lưới", "Cụm loa loa-1"):
        assert words in page, words
    assert "door_open" not in page  # no codes for people to decode
    assert "Cửa tủ loa đang mở" in minh.get("/ui/devices/loa-1").text


def test_serial_cable_pulled_and_plugged_back(stack: Stack, board, speech_wav):
    _cluster(stack, board)
    media = stack.upload(speech_wav)
    wait_for(lambda: board.received, what="agent talking to the board")
    board.unplug()
    wait_for(lambda: "mcu_unreachable" in _open_alarms(stack), what="board unreachable alarm")
    board.replug()
    wait_for(
        lambda: "mcu_unreachable" not in _open_alarms(stack, state="active"), what="board back"
    )
    b = stack.broadcast(media["sha256"], ["zone:thon-dong"])
    d = stack.wait_states(b["id"], {"played"})["deliveries"][0]
    assert d["line_check"]["dead_channels"] == []


def test_hardware_volume_goes_to_the_board(stack: Stack, board):
    _cluster(stack, board)
    assert stack.api.put("/api/devices/loa-1/volume", json={"level": 35}).status_code == 200
    wait_for(lambda: board.state.volume == 35, what="board volume")
    board.state.volume = 80  # the board rebooted with its default
    wait_for(lambda: board.state.volume == 35, what="volume set again after a reboot")


def test_an_emergency_sets_a_hardware_volume_board_to_the_emergency_volume_for_its_time(
    stack: Stack, board, speech_wav
):
    """The technician turned this cluster down to 30 %: a normal bulletin plays at 30 %, an
    emergency at the station's emergency volume (the board's gain, the samples untouched),
    and the cluster is back at 30 % after it."""
    _cluster(stack, board)
    assert stack.api.put("/api/devices/loa-1/volume", json={"level": 30}).status_code == 200
    wait_for(lambda: board.state.volume == 30, what="board volume")
    before = len(board.volume_log)
    media = stack.upload(speech_wav)
    lan = stack.person("lan", "broadcaster")
    b = lan.post(
        "/api/broadcasts",
        json={"media_sha256": media["sha256"], "targets": ["all"], "priority": "emergency"},
    ).json()
    assert (
        stack.person("chu-tich", "approver").post(f"/api/broadcasts/{b['id']}/confirm").status_code
        == 200
    )
    d = stack.wait_states(b["id"], {"played"})["deliveries"][0]
    wait_for(lambda: board.state.volume == 30, what="back to the cluster's own volume")
    changes = [(at, level) for at, level in board.volume_log[before:] if level != 30]
    # (set again when a poll crossed the change: the same level twice is one change)
    assert {level for _, level in changes} == {stack.services.settings.emergency_volume}
    up_at = changes[0][0]
    [down_at] = [at for at, level in board.volume_log if level == 30 and at > up_at][:1]
    # set when the emergency took the amplifiers: normally before its audio, and never more
    # than the board's serial round trips after it (an emergency's lead is shorter than the
    # amplifiers' warm-up; a loaded test machine adds its own delay)
    assert up_at < _ts(d["started_at"]) + 0.5
    assert down_at >= _ts(d["ended_at"])
    # the samples were not scaled in software: the cluster's 30 % is not applied twice
    [wav] = stack.output_files("loa-1")
    from tests.support.audio import as_played, correlation, decode, read_wav

    played = read_wav(wav)
    original = as_played(
        decode(stack.configs["loa-1"].data_path / "cache" / f"{media['sha256']}.opus"), d
    )
    assert correlation(played, original)[0] > 0.95
    assert abs(float(abs(played).max()) - float(abs(original).max())) < 0.02


def test_a_relay_with_no_stream_left_falls_back_to_the_boards_fm_tuner(stack: Stack, board):
    """Every URL of the relay is down and it has no fallback file: the board's tuner feeds the
    amplifiers (VOV1 on FM) for the slot, and the play says so."""
    stack.add_zone("thon-dong")
    stack.register(
        "loa-1",
        ["thon-dong"],
        hardware={
            "backend": "mcu",
            "port": str(board.port),
            "lead_s": 0.5,
            "hold_s": 1.0,
            "poll_s": 1.0,
            "fm_fallback_mhz": 100.0,
        },
    )
    stack.start_agent("loa-1")
    wait_for(lambda: board.received, what="agent talking to the board")
    r = stack.api.post(
        "/api/relays",
        json={
            "targets": ["zone:thon-dong"],
            "url": "http://127.0.0.1:9/vov1",
            "duration_s": 12,
            "title": "Tiếp sóng VOV1",
        },
    )
    assert r.status_code == 201, r.text
    wait_for(lambda: board.state.source == 1, timeout=30, what="the board on its FM input")
    assert board.state.fm_10khz == 10000
    assert board.state.amplifiers
    done = wait_for(
        lambda: stack.events(type="playback.finished", play_id=r.json()["id"]),
        timeout=40,
        what="the relay over",
    )[0]["payload"]
    assert done["stream_urls"] == ["fm"]
    assert not done["interrupted"]
    assert board.state.source == 0  # back to the Pi's audio for what comes next


def test_an_fm_relay_on_demand_tunes_the_boards_tuner_for_its_slot(stack: Stack, board):
    """Issue 30: a relay of an FM frequency (``fm:<kHz>``) plays through the cluster's own
    tuner — no stream, no data link needed — with the amplifiers sequenced and proof of play
    like any relay, and no dead-air alarm for the Pi's silence meanwhile."""
    _cluster(stack, board)
    wait_for(lambda: board.received, what="agent talking to the board")
    bad = stack.api.post(
        "/api/relays", json={"targets": ["zone:thon-dong"], "url": "fm:200000", "duration_s": 5}
    )
    assert bad.status_code == 422  # outside the FM band
    r = stack.api.post(
        "/api/relays",
        json={
            "targets": ["zone:thon-dong"],
            "url": "fm:98500",
            "duration_s": 8,
            "title": "Tiếp sóng Đài tỉnh (FM 98,5)",
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["stream"]["station_url"] is None  # no copy on the station's timeline
    wait_for(lambda: board.state.source == 1, timeout=30, what="the board on its FM input")
    assert board.state.fm_10khz == 9850
    wait_for(lambda: board.state.amplifiers == 0b11, what="both channels on, one by one")
    assert board.state.source == 1  # (still the tuner once the switching is over)
    done = wait_for(
        lambda: stack.events(type="playback.finished", play_id=r.json()["id"]),
        timeout=40,
        what="the FM relay over",
    )[0]["payload"]
    assert done["stream_urls"] == ["fm:98500"]
    assert not done["interrupted"]
    # the tuner fed the amplifiers for the 8 s slot, not the Pi: at most a block or two of
    # the Pi's silence while the board switched to the tuner on a loaded machine
    assert done["dead_air_ms"] <= 250, done["dead_air_ms"]
    assert done["line_check"]["line_ma"]  # the speaker lines carried current
    wait_for(lambda: board.state.source == 0, what="back to the Pi's audio")
    stack.wait_states(r.json()["id"], {"played"})
    assert not [a for a in stack.alarms(device_id="loa-1") if a["code"] == "dead_air"]
