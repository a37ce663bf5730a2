"""The station's channel and its archive, end to end: a real controller, agent, Icecast and
the channel process (``python -m controller.channel``). A villager's phone hears on
``/kenh.ogg`` what the loudspeaker plays, within a second; the recorder keeps it at the same
instant; a controller restart leaves no gap in the archive; a recorder killed is restarted and
its gap written down; the archive page, its files and a signed export a province can check."""

from __future__ import annotations

import json
import os
import signal
import time
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from controller.channel.archive_index import read_archive
from controller.channel.seal import verify_zip
from controller.db.models import ListenerSession
from protocol.keys import PublicKey
from protocol.messages import utcnow
from tests.support.channel import ChannelProcess, Listener, decode, mount_up, onset_s
from tests.support.cli import run_cli
from tests.support.mosquitto import free_port
from tests.support.stack import Stack, wait_for


@pytest.fixture
def stack(tmp_path: Path, mosquitto):
    s = Stack(tmp_path, mosquitto.port, icecast="managed", icecast_port=free_port()).start()
    yield s
    s.stop()


def test_the_channel_carries_what_the_loudspeaker_plays_and_the_archive_keeps_it(
    stack: Stack, tmp_path: Path, speech_wav: Path
):
    stack.add_zone("thon-dong")
    stack.register("loa-1", ["thon-dong"])
    stack.start_agent("loa-1")
    channel = ChannelProcess(stack.settings, tmp_path / "channel.log")
    root = stack.settings.resolved_archive_dir
    url = f"http://127.0.0.1:{stack.settings.icecast_port}/kenh.ogg"
    try:
        wait_for(lambda: mount_up(url), timeout=30, what="the channel on Icecast")
        listener = Listener(url)  # anyone may listen (the station's default)
        public = httpx.get(f"{stack.base_url}/nghe")  # its live player, allowed by the CSP
        assert f'src="{url}"' in public.text
        assert (
            f"media-src 'self' http://127.0.0.1:{stack.settings.icecast_port}"
            in (public.headers["content-security-policy"])
        )
        wait_for(lambda: listener.chunks, what="the listener hearing the channel")

        media = stack.upload(speech_wav)
        start = utcnow() + timedelta(seconds=8)  # its media fetched in time on a loaded machine
        b = stack.broadcast(media["sha256"], ["zone:thon-dong"], start_at=start.isoformat())
        stack.wait_states(b["id"], {"played"})
        # the loudspeakers' timeline: the words leave the horns at the start plus where they
        # begin in the bulletin (an agent that started late under load skips, to stay on it)
        bulletin = decode(
            stack.settings.media_dir / media["sha256"][:2] / f"{media['sha256']}.opus"
        )
        speaker_sound = start.timestamp() + onset_s(bulletin)

        # the phone heard the same words at most a second later
        heard = listener.first_sound_after(start.timestamp() - 1)
        assert heard is not None, "the channel carried no sound"
        lag = heard - speaker_sound
        print(f"channel lag behind the loudspeaker: {lag * 1000:.0f} ms")
        assert -0.3 < lag <= 1.0

        # the archive holds them at the same instant of the station's clock
        def holding():
            files, _gaps, rec = read_archive(root)
            every = files + ([rec.file] if rec else [])
            return [f for f in every if f.start.timestamp() <= speaker_sound < f.end.timestamp()]

        f = wait_for(holding, what="the recording of the bulletin")[0]
        recorded = decode(root / f.name)
        skip = speaker_sound - f.start.timestamp() - 1.0
        at = f.start.timestamp() + skip + onset_s(recorded[int(skip * 48000) :])
        print(f"archive vs loudspeaker: {(at - speaker_sound) * 1000:.0f} ms")
        assert abs(at - speaker_sound) < 0.1

        # a controller restart (its Icecast with it): the archive goes on without a gap
        restarted = utcnow()
        stack.restart_controller()
        time.sleep(3)
        files, gaps, rec = read_archive(root)
        assert gaps == [], gaps
        assert rec is not None
        assert rec.file.start < restarted < rec.updated  # the same file, still recording
        wait_for(lambda: mount_up(url), timeout=30, what="the channel back on Icecast")
        with stack.services.sessions() as session:  # the phone's connection went with Icecast
            held = (
                session.query(ListenerSession)
                .filter(ListenerSession.connected_at < restarted)
                .filter(ListenerSession.disconnected_at.is_(None))
                .count()
            )
        assert held == 0

        # the recorder killed: restarted on a new file, the gap written down as a gap
        pid = json.loads((root / "recording.json").read_text())["pid"]
        killed = utcnow()
        os.kill(pid, signal.SIGKILL)
        gap = wait_for(lambda: read_archive(root)[1], what="the gap recorded")[0]
        print(f"recorder killed: a gap of {gap.seconds:.2f} s written down")
        assert gap.reason == "recorder_died"
        assert gap.start <= killed <= gap.end  # the break around the kill, and only it
        wait_for(
            lambda: (r := read_archive(root)[2]) is not None and r.file.start >= gap.end,
            what="a new file recording",
        )
        listener.stop()
    finally:
        channel.stop()

    # the archive page and its JSON: today's files, the gap, the bulletin with its outcome
    day = stack.api.get("/api/archive").json()
    assert [a["id"] for a in day["aired"]] == [b["id"]]
    assert day["aired"][0]["played"] == 1
    assert [g["reason"] for g in day["gaps"]] == ["recorder_died"]
    assert day["usage"]["months"] == 12
    assert day["usage"]["need_bytes"] > 0
    audio = stack.api.get(day["files"][0]["url"])
    assert audio.status_code == 200
    assert audio.content[:4] == b"OggS"
    assert stack.api.get("/api/archive/files/..%2Floalang.db").status_code == 404
    assert stack.api.get("/api/archive/files/20200101-000000.ogg").status_code == 404
    lan = stack.person("lan", "broadcaster")
    page = lan.get("/ui/archive").text
    assert b["id"] in page
    assert "bộ ghi bị dừng, đã tự khởi động lại" in page
    assert 'id="export"' not in page  # a broadcaster listens; an approver exports
    moment = datetime.fromtimestamp(speaker_sound).astimezone(stack.services.archive.tz)
    cued = lan.get(
        "/ui/archive", params={"day": moment.date().isoformat(), "at": f"{moment:%H:%M}"}
    )
    assert 'id="cued"' in cued.text  # the recording holding that minute, played from there
    assert "#t=" in cued.text
    assert "Ngày không hợp lệ: 2026-13-45" in lan.get("/ui/archive?day=2026-13-45").text

    # a signed export of the period, checked as a province would
    period = {"from": (start - timedelta(minutes=5)).isoformat(), "to": utcnow().isoformat()}
    r = stack.api.get("/api/archive/export", params=period)
    assert r.status_code == 200, r.text
    assert lan.get("/api/archive/export", params=period).status_code == 403
    zipped = tmp_path / "export.zip"
    zipped.write_bytes(r.content)
    station_key = PublicKey.from_text(stack.services.keys.active.public_b64)
    check = verify_zip(zipped, station_key)
    assert check.ok, check.problems
    names = zipfile.ZipFile(zipped).namelist()
    assert f"ban-tin/{b['id']}.opus" in names
    assert any(n.startswith("kenh/") for n in names)
    log = json.loads(zipfile.ZipFile(zipped).read("nhat-ky.json"))
    assert log[0]["devices"][0]["state"] == "played"
    # one byte changed, or a key that is not the station's: refused, saying what
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(zipped) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data + b"x" if item.filename == "nhat-ky.csv" else data)
    assert verify_zip(tampered, station_key).problems == ["changed: nhat-ky.csv"]
    # the province's side: the command line, with the key the station gave it
    key = stack.services.keys.active.public_b64
    ok = run_cli(stack, "archive", "verify", str(zipped), "--key", key)
    assert ok.returncode == 0, ok.stderr
    assert "HỢP LỆ / VALID" in ok.stdout
    bad_zip = run_cli(stack, "archive", "verify", str(tampered), "--key", key)
    assert bad_zip.returncode == 1
    assert "changed: nhat-ky.csv" in bad_zip.stdout
    bad = stack.api.get(
        "/api/archive/export",
        params={"from": "2026-01-01T00:00", "to": "2026-03-01T00:00"},
    )
    assert bad.status_code == 422, bad.text
    assert bad.json()["error"]["code"] == "archive.period_too_long"
    audit = stack.api.get("/api/audit", params={"action": "archive."}).json()
    assert [e["action"] for e in audit] == ["archive.exported"]
