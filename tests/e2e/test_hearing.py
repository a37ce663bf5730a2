"""Did it sound? Three clusters with microphones in a simulated room (loalang/room_simulator
feeding each agent's FIFO): each calibrates itself at enrolment; then one keeps all its
horns, one loses a horn, one plays the wrong audio. A bulletin to all three is reported
heard, quieter than usual, and wrong — in words on the bulletin page, the home page and the
alarms — and nothing the agents sent or stored holds audio from the microphone."""

from __future__ import annotations

import json
from pathlib import Path

from loalang.room_simulator import RoomSimulator, RoomSpec
from tests.support.audio import make_speech
from tests.support.stack import Stack, wait_for

CLUSTERS = ("loa-lanh", "loa-hong", "loa-sai")
FEATURES = {"verdict", "score", "level_db", "delay_ms", "snr_db", "detail"}


def _hearing(stack: Stack, device_id: str) -> dict:
    return stack.api.get(f"/api/devices/{device_id}").json().get("hearing") or {}


def test_a_dead_horn_and_the_wrong_bulletin_are_heard_and_said_in_words(
    stack: Stack, speech_dir: Path
):
    stack.add_zone("thon-a")
    specs = []
    for device_id in CLUSTERS:
        fifo = stack.tmp / "mics" / f"{device_id}.fifo"
        stack.register(
            device_id,
            ["thon-a"],
            # a chime lost on a loaded machine is tried again soon, as in the field 5 min later
            microphone={"backend": "fifo", "path": str(fifo), "calibration_retry_s": 5},
        )
        specs.append(RoomSpec(device_id, stack.configs[device_id].output_dir, fifo, snr_db=20.0))
    rooms = RoomSimulator(specs).start()
    try:
        for device_id in CLUSTERS:
            stack.start_agent(device_id)
        # enrolment: each cluster plays its chime and keeps what its microphone heard
        for device_id in CLUSTERS:
            wait_for(
                lambda d=device_id: (_hearing(stack, d).get("calibration") or {}).get("ok"),
                timeout=150,
                what=f"{device_id} calibrated",
            )
        # then a horn dies on one pole, and another plays the wrong audio
        (stack.tmp / "mics" / "loa-hong.fault").write_text("one_dead")
        (stack.tmp / "mics" / "loa-sai.fault").write_text("wrong")
        wav = make_speech(
            speech_dir / "hearing.wav",
            "Kính thưa bà con, chiều nay xã tổ chức tiêm phòng dại cho chó mèo tại nhà văn hoá. "
            "Đề nghị các hộ gia đình đưa vật nuôi đến đúng giờ.",
        )
        sha = stack.upload(wav, title="Tiêm phòng")["sha256"]
        b = stack.broadcast(sha, ["zone:thon-a"])
        stack.wait_states(b["id"], {"played"}, timeout=90)

        def verdicts() -> dict[str, str] | None:
            got = {
                d["device_id"]: (d.get("hearing") or {}).get("verdict")
                for d in stack.api.get(f"/api/broadcasts/{b['id']}").json()["deliveries"]
            }
            return got if all(got.values()) else None

        got = wait_for(verdicts, timeout=30, what="every cluster's microphone verdict")
        assert got == {"loa-lanh": "heard", "loa-hong": "quiet", "loa-sai": "wrong"}, got
        deliveries = {
            d["device_id"]: d
            for d in stack.api.get(f"/api/broadcasts/{b['id']}").json()["deliveries"]
        }
        assert -9 < deliveries["loa-hong"]["hearing"]["level_db"] < -3.5
        assert abs(deliveries["loa-lanh"]["hearing"]["level_db"]) < 3

        # the bulletin page says it in words
        page = stack.api.get(f"/ui/broadcasts/{b['id']}").text
        assert "micro nghe thấy" in page
        assert "nhỏ hơn thường lệ" in page
        assert "(có thể hỏng một loa)" in page
        assert "phát sai nội dung" in page
        # the home page: the village's count and the heard map
        home = stack.api.get("/ui/").text
        assert 'data-heard="1/3"' in home
        # the alarms, in words, for the technician
        wait_for(
            lambda: (
                len([a for a in stack.api.get("/api/alarms").json() if a["code"] == "hearing"]) >= 2
            ),
            what="hearing alarms",
        )
        alarms = stack.api.get("/ui/alarms").text
        assert "nhỏ hơn thường lệ" in alarms
        assert "phát sai nội dung" in alarms

        # a technician calibrates again from the device page (a signed command)
        before = _hearing(stack, "loa-lanh")["calibration"]["ts"]
        r = stack.api.post("/api/devices/loa-lanh/calibrate-hearing", json={"volume": 30})
        assert r.status_code == 200, r.text
        wait_for(
            lambda: _hearing(stack, "loa-lanh")["calibration"]["ts"] > before,
            timeout=60,
            what="a second calibration",
        )
        assert _hearing(stack, "loa-lanh")["calibration"]["ok"]
        device_page = stack.api.get("/ui/devices/loa-lanh").text
        assert "Hiệu chuẩn micro" in device_page
        assert "không bao giờ rời khỏi cụm loa" in device_page
        stack.register("loa-cam", ["thon-a"])  # no microphone: nothing to calibrate, in words
        r = stack.api.post("/api/devices/loa-cam/calibrate-hearing")
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "device.no_microphone"
        assert "không có micro" in r.text

        # a report counts heard beside played
        report = stack.api.get("/api/reports/station").json()
        assert report["totals"]["heard"] == 2  # heard, and quieter than usual
    finally:
        rooms.stop()

    # privacy: what the agents sent is features only, and they kept no captured sound
    for device_id in CLUSTERS:
        events = stack.api.get("/api/events", params={"device_id": device_id, "limit": 500}).json()
        for e in events:
            assert len(json.dumps(e)) < 4000, e["type"]  # no audio rides in any report
            if e["type"] == "playback.heard":
                extra = set(e["payload"]) - {"event_id", "device_id", "ts", "type"}
                assert extra - {"play_id", "broadcast_id"} <= FEATURES, e["payload"]
        data = stack.configs[device_id].data_path
        output = stack.configs[device_id].output_dir
        for path in data.rglob("*"):
            if path.is_file() and output not in path.parents and "cache" not in path.parts:
                assert path.suffix != ".wav", path
                assert path.read_bytes()[:4] != b"RIFF", path
                assert path.stat().st_size < 200_000, path
        saved = json.loads((data / "hearing.json").read_text())
        assert set(saved) == {"gain_db", "calibrated_at"}
