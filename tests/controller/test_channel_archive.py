"""The channel's programme (pure), the archive's index and recorder on real files, the
export's seal, and the archive's retention and disk alarm over a real database."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controller.channel.airtime import AirItem, cut_by_stops, on_air, with_replays
from controller.channel.archive_index import ArchiveFile, file_line, parse_index, read_archive
from controller.channel.recorder import FRAME_NS, Recorder, ogg_seconds
from controller.channel.seal import MANIFEST, SIGNATURE, manifest_bytes, verify_zip
from controller.db.models import Alarm, AuditEntry
from controller.db.session import make_engine, make_sessionmaker, migrate
from controller.keys import public_of
from controller.services.alarms import AlarmService
from controller.services.archive import DISK_ALARM, ArchiveService
from controller.services.audit import AuditLog
from controller.services.station import StationService
from controller.settings import Settings
from protocol.messages import Priority

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def _item(play_id: str, at_s: float, length_s: float, priority: str = "normal", **kw) -> AirItem:
    return AirItem(
        play_id=play_id,
        start=T0 + timedelta(seconds=at_s),
        duration_s=length_s,
        priority=Priority(priority),
        reach=kw.pop("reach", 1),
        source=kw.pop("source", play_id),
        not_after=kw.pop("not_after", T0 + timedelta(seconds=at_s + 120)),
        **kw,
    )


def _at(items: list[AirItem], s: float) -> tuple[str, float] | None:
    found = on_air(with_replays(items), T0 + timedelta(seconds=s))
    return (found.item.play_id, round(found.offset_s, 3)) if found else None


def test_the_channel_follows_the_loudspeakers_priorities():
    bulletin = _item("tin", 0, 60)
    siren = _item("khan", 20, 10, "emergency")
    assert _at([bulletin, siren], -1) is None  # silence before
    assert _at([bulletin, siren], 5) == ("tin", 5.0)
    assert _at([bulletin, siren], 25) == ("khan", 5.0)  # the emergency cuts in
    # and the bulletin comes back from its start, as the agents replay it
    assert _at([bulletin, siren], 31) == ("tin", 1.0)
    assert _at([bulletin, siren], 89) == ("tin", 59.0)
    assert _at([bulletin, siren], 91) is None
    # past its play window, a cut bulletin does not come back
    late = _item("tin", 0, 60, not_after=T0 + timedelta(seconds=25))
    assert _at([late, siren], 31) is None


def test_different_villages_at_once_the_channel_carries_the_widest_heard():
    small = _item("thon-dong", 0, 30, reach=3)
    wide = _item("ca-xa", 10, 30, reach=40)
    assert _at([small, wide], 5) == ("thon-dong", 5.0)
    assert _at([small, wide], 15) == ("ca-xa", 5.0)
    assert _at([small, wide], 35) == ("ca-xa", 25.0)
    # a stream (a relay) cut by an emergency rejoins live, it does not replay
    relay = _item("vov", 0, 600, "normal", stream=True)
    siren = _item("khan", 100, 10, "emergency")
    assert _at([relay, siren], 115) == ("vov", 115.0)


def test_a_stop_silences_a_routine_relay_on_the_channel_when_it_names_all_its_villages():
    relay = _item("vov-sang", 0, 600, stream=True)  # a routine relay: no broadcast row
    targets = {"vov-sang": ("zone:thon-a", "zone:thon-b")}

    def after(*stops: tuple[float, list[str]]) -> tuple[str, float] | None:
        cut = cut_by_stops(
            [relay], targets, [(T0 + timedelta(seconds=at), names) for at, names in stops]
        )
        return _at(cut, 200)

    assert after() == ("vov-sang", 200.0)
    assert after((100, ["zone:thon-a", "zone:thon-b"])) is None  # stopped at 100 s
    assert after((100, ["all"])) is None
    assert after((100, ["zone:thon-a"])) == ("vov-sang", 200.0)  # thôn B still plays it
    assert after((-50, ["all"]), (700, ["all"])) == ("vov-sang", 200.0)  # before, after it
    [cut] = cut_by_stops([relay], targets, [(T0 + timedelta(seconds=30), ["all"])])
    assert cut.duration_s == 30.0


def test_the_index_skips_damaged_lines_and_reads_what_is_there(tmp_path: Path):
    good = ArchiveFile("2026/12/07/080000.ogg", T0, T0 + timedelta(hours=1), 1000)
    text = "\n".join([file_line(good), "{not json", '{"file": 3}', '{"gap_from": "x"}'])
    files, gaps = parse_index(text)
    assert files == [good]
    assert gaps == []
    assert read_archive(tmp_path / "none") == ([], [], None)


def _tone(path: Path, seconds: float) -> None:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i", f"sine=d={seconds}"]
        + ["-ac", "1", "-ar", "48000", "-c:a", "libopus", "-f", "ogg", str(path), "-y"],
        check=True,
    )


def test_an_ogg_files_length_is_read_from_its_last_page(tmp_path: Path):
    _tone(tmp_path / "a.ogg", 2.0)
    assert ogg_seconds(tmp_path / "a.ogg") == pytest.approx(2.0, abs=0.03)
    (tmp_path / "b.ogg").write_bytes(b"nothing")
    assert ogg_seconds(tmp_path / "b.ogg") is None


def test_the_recorder_writes_hour_files_and_each_gap_with_its_reason(tmp_path: Path):
    root = tmp_path / "archive"
    start_ns = int(datetime(2026, 12, 7, 8, 59, 58, tzinfo=UTC).timestamp() * 1e9)
    rec = Recorder(root, "ffmpeg", 24)
    frame = b"\x10\x00" * 960  # 20 ms of a quiet hum
    for n in range(150):  # 3 s across the hour: two files
        rec.write(frame, start_ns + n * FRAME_NS)
    for m in range(200, 250):  # a second lost on the way here (the machine stalled)
        rec.write(frame, start_ns + m * FRAME_NS)
    rec.close()
    files, gaps, _ = read_archive(root)
    assert [f.name for f in files] == [
        "2026/12/07/085958.ogg",
        "2026/12/07/090000.ogg",
        "2026/12/07/090002.ogg",
    ]
    assert files[0].seconds == pytest.approx(2.0, abs=0.05)
    assert [(g.reason, round(g.seconds, 1)) for g in gaps] == [("stalled", 1.0)]
    # the channel stopped and started again later: that time is a gap too
    again = Recorder(root, "ffmpeg", 24)
    for k in range(50):
        again.write(frame, start_ns + (500 + k) * FRAME_NS)
    again.close()
    _files, gaps, _ = read_archive(root)
    assert [(g.reason, round(g.seconds, 1)) for g in gaps] == [
        ("stalled", 1.0),
        ("channel_stopped", 5.0),
    ]


def _export(tmp_path: Path, key: Ed25519PrivateKey) -> Path:
    path = tmp_path / "x.zip"
    files = {"kenh/a.ogg": b"OggS audio", "nhat-ky.json": b"[]"}
    about = {"station": "Xã A", "public_key": public_of(key).text, "kid": public_of(key).kid}
    raw = manifest_bytes(about, {n: hashlib.sha256(d).hexdigest() for n, d in files.items()})
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr(MANIFEST, raw)
        zf.writestr(SIGNATURE, base64.b64encode(key.sign(raw)))
    return path


def test_an_export_is_checked_against_the_stations_key(tmp_path: Path):
    station, stranger = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    path = _export(tmp_path, station)
    check = verify_zip(path, public_of(station))
    assert check.ok
    assert check.files == 2
    assert check.station == "Xã A"
    # a ZIP signed by someone else (its manifest names their key) fails the station's key
    (tmp_path / "f").mkdir()
    forged = _export(tmp_path / "f", stranger)
    assert verify_zip(forged, public_of(station)).problems == [
        "the signature does not match the manifest and this key"
    ]
    # a file slipped in
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("them.txt", b"x")
    assert verify_zip(path, public_of(station)).problems == ["not in the manifest: them.txt"]
    (tmp_path / "no.zip").write_bytes(b"PK nothing")
    assert not verify_zip(tmp_path / "no.zip").ok


@pytest.fixture
def archive(tmp_path: Path) -> ArchiveService:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    migrate(engine)
    sessions = make_sessionmaker(engine)
    audit = AuditLog(sessions)
    settings = Settings(data_dir=tmp_path / "data", archive_dir=tmp_path / "archive")
    station = StationService(sessions, audit)
    return ArchiveService(settings, sessions, station, audit, AlarmService(sessions, audit))


def _file(root: Path, start: datetime, hours: float = 1.0, size: int = 10) -> ArchiveFile:
    f = ArchiveFile(
        start.strftime("%Y/%m/%d/%H%M%S.ogg"), start, start + timedelta(hours=hours), size
    )
    (root / f.name).parent.mkdir(parents=True, exist_ok=True)
    (root / f.name).write_bytes(b"x" * 10)
    with (root / "index.jsonl").open("a") as fh:
        fh.write(file_line(f) + "\n")
    return f


def test_files_past_the_retention_are_pruned_and_the_pruning_logged(archive: ArchiveService):
    now = datetime(2026, 12, 7, tzinfo=UTC)
    old = _file(archive.root, now - timedelta(days=400))
    kept = _file(archive.root, now - timedelta(days=300))
    assert archive.prune(now) == 1
    assert not (archive.root / old.name).exists()
    assert (archive.root / kept.name).exists()
    with archive._sessions() as session:
        rows = session.query(AuditEntry).filter_by(action="archive.pruned").all()
    assert [(r.detail["files"], r.detail["months"]) for r in rows] == [(1, 12)]
    assert archive.prune(now) == 0  # nothing more, nothing logged twice
    assert archive.usage().files == 1


def test_the_disk_alarm_rises_before_the_disk_is_full_and_clears(archive: ArchiveService):
    free = shutil.disk_usage(archive.root.parent).free
    # a measured rate at which 30 days of recording (archive_alarm_days) outgrow the disk
    _file(archive.root, datetime(2026, 12, 6, tzinfo=UTC), size=free // 100)
    assert archive.usage().alarm
    assert archive.check_disk()
    with archive._sessions() as session:
        alarm = session.query(Alarm).filter_by(key=DISK_ALARM).one()
        assert alarm.device_id is None
        assert alarm.cleared_at is None
    (archive.root / "index.jsonl").write_text("")  # the archive moved to a bigger disk
    _file(archive.root, datetime(2026, 12, 6, tzinfo=UTC), size=1000)
    assert not archive.check_disk()
    with archive._sessions() as session:
        assert session.query(Alarm).filter_by(key=DISK_ALARM).one().cleared_at is not None
