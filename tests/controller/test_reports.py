"""The station report over a month of generated history (SQLite and PostgreSQL): its totals
recounted from the rows written, its CSV read back as a spreadsheet would, its PDF's text."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator

import pytest
from pypdf import PdfReader
from sqlalchemy.orm import Session, sessionmaker

from controller.db.session import make_engine, make_sessionmaker, migrate
from controller.domain.errors import Invalid
from controller.domain.outcome import Outcome
from controller.reports.documents import CsvKind, csv_bytes, pdf_bytes
from controller.reports.figures import online_seconds, success_rate
from controller.services.reports import Reports
from controller.settings import Settings
from tests.support.history import CLUSTERS, VILLAGES, Written, write_month


def _month(tmp_path, database_url: str | None) -> Iterator[tuple[Reports, Written]]:
    engine = make_engine(database_url or f"sqlite:///{tmp_path / 'r.db'}")
    migrate(engine)
    sessions: sessionmaker[Session] = make_sessionmaker(engine)
    written = write_month(sessions)
    settings = Settings(data_dir=tmp_path, station_name="Đài truyền thanh xã Tân Lập")
    yield Reports(sessions, settings), written
    engine.dispose()


@pytest.fixture
def month(tmp_path, database_url) -> Iterator[tuple[Reports, Written]]:
    """The totals, on SQLite and PostgreSQL."""
    yield from _month(tmp_path, database_url)


@pytest.fixture
def month_sqlite(tmp_path) -> Iterator[tuple[Reports, Written]]:
    """The documents, which do not depend on the database."""
    yield from _month(tmp_path, None)


def test_totals_match_the_rows_written(month):
    reports, w = month
    start, end, label = reports.month("2026-11")
    assert (start, end, label) == (w.start, w.end, "11/2026")
    report = reports.station(start, end, label)

    assert len(report.lines) == len(w.deliveries)  # nothing from 31/10 or 1/12, nor held
    assert report.totals.bulletins == len({d[0] for d in w.deliveries}) == 30 * 3
    played = [d for d in w.deliveries if d[2] == "played"]
    assert report.totals.played == len(played)
    meant = [d for d in w.deliveries if d[2] != "cancelled"]
    assert report.totals.success_rate == pytest.approx(len(played) / len(meant))
    longest: dict[str, int] = defaultdict(int)
    for bid, _, _, ms in w.deliveries:
        longest[bid] = max(longest[bid], ms)
    assert report.totals.minutes_on_air == pytest.approx(sum(longest.values()) / 60000, abs=0.1)

    by_village = {v.zone_id: v for v in report.villages}
    assert set(by_village) == set(VILLAGES)
    for zone in VILLAGES:
        rows = [d for d in w.deliveries if zone in CLUSTERS[d[1]]]
        v = by_village[zone]
        assert v.village == VILLAGES[zone]
        assert v.deliveries == len(rows)
        assert v.played == sum(d[2] == "played" for d in rows)
        assert v.fault == sum(d[2] == "fault" for d in rows)
        assert v.failed == sum(d[2] == "failed" for d in rows)
        assert v.missed == sum(d[2] == "missed" for d in rows)
        assert v.interrupted == sum(d[2] == "interrupted" for d in rows)
        meant = [d for d in rows if d[2] != "cancelled"]
        assert v.success_rate == pytest.approx(sum(d[2] == "played" for d in meant) / len(meant))

    period = (w.end - w.start).total_seconds()
    by_cluster = {c.device_id: c for c in report.clusters}
    for device, spans in w.offline.items():
        down = sum((min(up, w.end) - max(dn, w.start)).total_seconds() for dn, up in spans)
        assert by_cluster[device].online_ratio == pytest.approx(1 - down / period)
        mine = [a for a in w.alarms if a[0] == device]
        assert by_cluster[device].alarms_raised == sum(w.start <= a[1] < w.end for a in mine)
        repaired = [(c - r).total_seconds() / 60 for _, r, c in mine if c is not None]
        assert by_cluster[device].alarms_cleared == len(repaired)
        if repaired:
            assert by_cluster[device].mean_repair_min == pytest.approx(
                sum(repaired) / len(repaired)
            )
    assert by_cluster["loa-nam-2"].online_ratio < 1  # down over the month's end
    assert len(report.days) == 30
    assert all(0 <= d.online_ratio <= 1 for d in report.days)


def test_csv_is_for_a_spreadsheet_in_vietnamese_and_local_time(month_sqlite):
    reports, w = month_sqlite
    report = reports.station(*reports.month("2026-11")[:2])
    data = csv_bytes(report, CsvKind.log)
    assert data.startswith(b"\xef\xbb\xbf")  # BOM: a spreadsheet then reads UTF-8
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][:4] == ["Bản tin", "Mức ưu tiên", "Thôn", "Cụm loa"]
    assert len(rows) == 1 + len(w.deliveries)
    first = rows[1]
    assert first[5].startswith("01/11/2026 ")  # planned start in station time (UTC+7)
    words = {r[10] for r in rows[1:]}
    assert words == {
        "Đã phát",
        "Đã phát nhưng có lỗi đường loa",
        "Bị ngắt giữa chừng",
        "Lỗi (không phát)",
        "Bị lỡ (không phát)",
        "Đã huỷ (không phát)",
    }
    villages = list(
        csv.reader(io.StringIO(csv_bytes(report, CsvKind.villages).decode("utf-8-sig")))
    )
    assert [r[0] for r in villages[1:]] == sorted(VILLAGES.values())
    english = csv_bytes(report, CsvKind.equipment, "en").decode("utf-8-sig")
    assert english.splitlines()[0].startswith("Cluster,Device id,Village,Status now")


def test_pdf_has_the_station_charts_and_tables(month_sqlite):
    reports, w = month_sqlite
    start, end, label = reports.month("2026-11")
    report = reports.station(start, end, label)
    archive = "https://dai.example.vn/ui/archive?day=2026-11-01"
    data = pdf_bytes(report, archive_url=archive)
    assert data.startswith(b"%PDF")
    pdf = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in pdf.pages)
    for words in (
        "Đài truyền thanh xã Tân Lập",
        "Báo cáo hoạt động — 11/2026",
        "Tỷ lệ thành công",
        "Thôn Đông",
        "Bản Nậm",
        "Cụm loa-cho",
        "Nhật ký phát thanh",
        "Bản tin 1/1",
    ):
        assert words in text, words
    first = pdf.pages[0].extract_text()
    # the two charts, drawn as vectors from SVG: their axes and labels are text in the page
    assert first.count("100 %") == 2, first  # coverage per village, online ratio per day
    assert "01/11" in first  # the online chart's first day
    assert sum(len(page.images) for page in pdf.pages) == 0  # no raster images any more
    assert pdf.metadata.title == "Đài truyền thanh xã Tân Lập — Báo cáo hoạt động 11/2026"
    # the month in the archive: said in words and a link a reader can click
    assert "Nghe lại và tải bản ghi của tháng này trong Lưu trữ" in first
    links = [a["/A"]["/URI"] for a in pdf.pages[0].get("/Annots", []) if "/A" in a.get_object()]
    assert links == [archive]


def test_bad_periods_are_refused_in_words(month_sqlite):
    reports, _ = month_sqlite
    for bad in ("2026-13", "11-2026", "2026-00"):
        with pytest.raises(Invalid) as err:
            reports.month(bad)
        assert err.value.key == "report.bad_month"
    start, end, _ = reports.month("2026-11")
    with pytest.raises(Invalid):
        reports.station(end, start)


def test_online_seconds_counts_from_the_state_held_at_the_start():
    from datetime import datetime, timedelta, timezone

    t0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
    hour = timedelta(hours=1)
    assert online_seconds([], "online", t0, t0 + hour) == 3600
    assert online_seconds([], None, t0, t0 + hour) == 0
    assert (
        online_seconds(
            [(t0 + hour / 4, "offline"), (t0 + hour / 2, "online")], "online", t0, t0 + hour
        )
        == 2700
    )
    # a change before the start clamps to it; after the end, to the end
    assert (
        online_seconds(
            [(t0 - hour, "online"), (t0 + 2 * hour, "offline")], "offline", t0, t0 + hour
        )
        == 3600
    )
    assert (
        success_rate([Outcome.played, Outcome.fault, Outcome.cancelled, Outcome.waiting]) == 0.5
    )  # a dead line is no success; withdrawn or on its way: not counted
    assert success_rate([Outcome.cancelled]) is None


def test_online_time_leaves_out_the_controllers_downtime_and_time_to_come():
    from datetime import UTC, datetime, timedelta

    from controller.reports.figures import controller_down, online_spans, seconds, without

    t0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)

    def at(minutes: float) -> datetime:
        return t0 + timedelta(minutes=minutes)

    # the controller ran 0–30 and 34–60 (stopped 4 minutes), and again from 90
    runs = [(at(0), at(30)), (at(34), at(60)), (at(90), at(95))]
    down = controller_down(runs, at(0), at(100))
    assert down == [(at(30), at(34)), (at(60), at(90))]
    assert controller_down(runs, at(32), at(70)) == [(at(32), at(34)), (at(60), at(70))]
    assert controller_down([], at(0), at(10)) == []  # before any run on record: not known
    # a cluster online from 5, offline 40–44: 35 minutes of 30 + 26 + 5 watched up to 95
    changes = [(at(5), "online"), (at(40), "offline"), (at(44), "online")]
    online = without(online_spans(changes, None, at(0), at(95)), down)
    assert seconds(online) / 60 == 25 + 22 + 5
    watched = seconds(without([(at(0), at(95))], down)) / 60
    assert watched == 30 + 26 + 5


def test_percent_never_reads_a_whole_hundred_for_minutes_lost():
    from controller.reports.figures import percent

    assert percent(1.0) == "100.0%"
    assert percent(1 - 4 / (60 * 24 * 30)) == "99.9%"  # 4 minutes in a month
    assert percent(0.5) == "50.0%"
    assert percent(None) == ""


def test_map_names_stay_inside_the_picture_on_a_narrow_screen():
    """Issue 29: names of clusters at the map's right edge ran off it (cut on a phone)."""
    import re

    from controller.charts import W, cluster_map

    names = ["Cụm loa nhà văn hoá thôn Đông", "Cụm loa chợ thôn Tây", "Cụm loa trường bản Nà"]
    svg = cluster_map(
        [(n, 9.1 + i * 0.05, 105.1 + i * 0.1, "online") for i, n in enumerate(names)], "map"
    )
    glyph = 7.5  # DejaVu Sans at 12 px: wider than any Vietnamese letter's mean advance
    for x, anchor, name in re.findall(
        r'<text x="([\d.]+)"[^>]*?( text-anchor="end")?>([^<]+)', svg
    ):
        left = float(x) - (len(name) * glyph if anchor else 0)
        right = float(x) + (0 if anchor else len(name) * glyph)
        assert left >= 0, name
        assert right <= W, name
