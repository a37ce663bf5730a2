"""A station report as files: CSV for spreadsheets (UTF-8 with BOM, headers in the reader's
language, local times) and a PDF for the province (fpdf2, charts as SVG: ``charts.py``)."""

from __future__ import annotations

import csv
import enum
import io
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, time
from pathlib import Path
from typing import Any

from .. import charts
from ..domain.outcome import Outcome
from ..i18n import device_state_words, translate
from .figures import percent
from .models import BroadcastLine, StationReport


class CsvKind(str, enum.Enum):
    log = "log"  # one row per bulletin × cluster
    villages = "villages"  # totals per village
    equipment = "equipment"  # uptime, online ratio, alarms per cluster


PDF_LOG_ROWS = 2000
"""The PDF lists bulletins (one row each, outcomes counted); past this many it says how many
more there are: the per-cluster detail is the CSV's."""


def _when(at: datetime | None) -> str:
    return at.strftime("%d/%m/%Y %H:%M:%S") if at else ""


def _ratio(value: float | None) -> str:
    return percent(value)


def _number(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else ""


def counting_notes(report: StationReport, lang: str = "vi") -> list[str]:
    """What the uptime figures leave out, in words: time still to come and the controller's
    own downtime (the page and the PDF say the same)."""
    notes = []
    if report.counted_until < report.period_end:
        notes.append(translate("report.counted_until", lang, at=_when(report.counted_until)))
    if report.controller_down:
        spans = ", ".join(
            f"{d.start:%H:%M %d/%m} – {d.end:%H:%M %d/%m}" for d in report.controller_down
        )
        notes.append(
            translate(
                "report.controller_down",
                lang,
                minutes=f"{report.totals.controller_down_min:.0f}",
                spans=spans,
            )
        )
    return notes


def csv_bytes(report: StationReport, kind: CsvKind, lang: str = "vi") -> bytes:
    """One table of the report as CSV: BOM first, so a spreadsheet reads Vietnamese right."""
    t: Callable[[str], str] = lambda key: translate(key, lang)  # noqa: E731
    buf = io.StringIO()
    writer = csv.writer(buf)
    if kind is CsvKind.log:
        writer.writerow(
            [
                t(k)
                for k in (
                    "report.bulletin",
                    "report.priority",
                    "report.village",
                    "report.cluster",
                    "report.device_id",
                    "report.planned_start",
                    "report.planned_end",
                    "report.actual_start",
                    "report.actual_end",
                    "report.duration",
                    "report.outcome",
                    "report.reason",
                )
            ]
        )
        for line in report.lines:
            writer.writerow(
                [
                    line.title,
                    t(f"priority.{line.priority}"),
                    ", ".join(line.villages),
                    line.cluster,
                    line.device_id,
                    _when(line.planned_start),
                    _when(line.planned_end),
                    _when(line.actual_start),
                    _when(line.actual_end),
                    f"{line.duration_s:.1f}",
                    t(f"outcome.{line.outcome.value}"),
                    line.reason or "",
                ]
            )
    elif kind is CsvKind.villages:
        writer.writerow(
            [
                t(k)
                for k in (
                    "report.village",
                    "report.bulletins",
                    "report.deliveries",
                    "report.played",
                    "report.heard",
                    "report.fault",
                    "report.interrupted",
                    "report.missed",
                    "report.failed",
                    "report.minutes_on_air",
                    "report.success_rate",
                )
            ]
        )
        for v in report.villages:
            writer.writerow(
                [
                    v.village,
                    v.bulletins,
                    v.deliveries,
                    v.played,
                    v.heard,
                    v.fault,
                    v.interrupted,
                    v.missed,
                    v.failed,
                    f"{v.minutes_on_air:.1f}",
                    _ratio(v.success_rate),
                ]
            )
    else:
        writer.writerow(
            [
                t(k)
                for k in (
                    "report.cluster",
                    "report.device_id",
                    "report.village",
                    "report.status_now",
                    "report.online_hours",
                    "report.offline_min",
                    "report.online_ratio",
                    "report.alarms_raised",
                    "report.alarms_cleared",
                    "report.mttr",
                )
            ]
        )
        for c in report.clusters:
            writer.writerow(
                [
                    c.cluster,
                    c.device_id,
                    ", ".join(c.villages),
                    device_state_words(c.status_now, lang),
                    f"{c.online_hours:.2f}",
                    f"{c.offline_min:.1f}",
                    _ratio(c.online_ratio),
                    c.alarms_raised,
                    c.alarms_cleared,
                    _number(c.mean_repair_min),
                ]
            )
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


# --- PDF ---------------------------------------------------------------------------------


FONTS = Path(__file__).parent / "fonts"
"""DejaVu Sans, shipped with the controller (its licence beside it): every Vietnamese letter,
nothing to install."""


def _svg(text: str) -> io.BytesIO:
    """A chart for fpdf2, without the ``<title>`` a page shows on hover (the PDF has its
    heading above it)."""
    return io.BytesIO(re.sub(r"<title>.*?</title>", "", text).encode())


def _coverage_chart(report: StationReport, lang: str) -> io.BytesIO:
    return _svg(
        charts.bar_chart(
            [v.village for v in report.villages],
            [(v.success_rate or 0.0) * 100 for v in report.villages],
            translate("report.chart_coverage", lang),
            " %",
        )
    )


def _online_chart(report: StationReport, lang: str) -> io.BytesIO:
    days = [d for d in report.days if d.online_ratio is not None]
    points = [(datetime.combine(d.day, time(12)), (d.online_ratio or 0.0) * 100) for d in days]
    return _svg(
        charts.line_chart(
            points, translate("report.chart_online", lang), " %", (0, 100), time_format="%d/%m"
        )
    )


def bulletin_rows(lines: Sequence[BroadcastLine]) -> list[dict[str, Any]]:
    """The log folded per bulletin: its start, villages, and clusters per outcome."""
    grouped: dict[str, list[BroadcastLine]] = defaultdict(list)
    for line in lines:
        grouped[line.broadcast_id].append(line)
    rows = []
    for group in grouped.values():
        first = group[0]
        villages = sorted({v for line in group for v in line.villages})
        rows.append(
            dict(
                title=first.title,
                priority=first.priority,
                start=first.planned_start,
                villages=villages,
                clusters=len(group),
                played=sum(line.outcome is Outcome.played for line in group),
                minutes=max(line.duration_s for line in group) / 60,
            )
        )
    return rows


def pdf_bytes(report: StationReport, lang: str = "vi", archive_url: str | None = None) -> bytes:
    """The monthly report: the station's name, totals, two charts, per village, equipment and
    the bulletins of the period; with ``archive_url``, a link to the period in the archive."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    t: Callable[[str], str] = lambda key: translate(key, lang)  # noqa: E731
    pdf = FPDF(orientation="portrait", format="A4")
    pdf.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.set_title(f"{report.station} — {t('report.title')} {report.label}")
    pdf.set_author(report.station)
    pdf.set_auto_page_break(True, margin=12)
    pdf.add_page()
    heading = FontFace(emphasis="BOLD", fill_color=(230, 236, 240))

    pdf.set_font("DejaVu", "B", 15)
    pdf.multi_cell(0, 8, report.station, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "B", 12)
    pdf.multi_cell(0, 7, f"{t('report.title')} — {report.label}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 8)
    pdf.multi_cell(
        0,
        5,
        f"{t('report.period')}: {report.period_start:%d/%m/%Y} – "
        f"{report.last_day:%d/%m/%Y} ({report.timezone}). "
        f"{t('report.generated')}: {_when(report.generated_at)}",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    for note in counting_notes(report, lang):
        pdf.multi_cell(0, 5, note, new_x="LMARGIN", new_y="NEXT")
    if archive_url:
        pdf.multi_cell(
            0, 5, f"{t('report.archive_link')}: {archive_url}", new_x="LMARGIN", new_y="NEXT"
        )
        pdf.link(pdf.l_margin, pdf.get_y() - 5, pdf.epw, 5, archive_url)
    pdf.ln(2)

    def section(key: str) -> None:
        pdf.ln(2)
        pdf.set_font("DejaVu", "B", 11)
        pdf.multi_cell(0, 7, t(key), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 8)

    def table(
        header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float]
    ) -> None:
        with pdf.table(
            col_widths=tuple(widths), headings_style=heading, line_height=4.5, text_align="LEFT"
        ) as tab:
            row = tab.row()
            for cell in header:
                row.cell(cell)
            for values in rows:
                row = tab.row()
                for cell in values:
                    row.cell(cell)

    section("report.totals")
    totals = report.totals
    table(
        [
            t("report.bulletins"),
            t("report.deliveries"),
            t("report.played"),
            t("report.heard"),
            t("report.homes"),
            t("report.minutes_on_air"),
            t("report.success_rate"),
            t("report.online_ratio"),
            t("report.alarms_raised"),
            t("report.mttr"),
        ],
        [
            [
                str(totals.bulletins),
                str(totals.deliveries),
                str(totals.played),
                str(totals.heard),
                str(totals.homes),
                f"{totals.minutes_on_air:.1f}",
                _ratio(totals.success_rate),
                _ratio(totals.online_ratio),
                str(totals.alarms_raised),
                _number(totals.mean_repair_min),
            ]
        ],
        (1,) * 10,
    )

    if report.villages:
        pdf.ln(2)
        pdf.set_font("DejaVu", "B", 10)
        pdf.cell(0, 6, translate("report.chart_coverage", lang), new_x="LMARGIN", new_y="NEXT")
        pdf.image(_coverage_chart(report, lang), w=pdf.epw)
    if any(d.online_ratio is not None for d in report.days):
        pdf.set_font("DejaVu", "B", 10)
        pdf.cell(0, 6, translate("report.chart_online", lang), new_x="LMARGIN", new_y="NEXT")
        pdf.image(_online_chart(report, lang), w=pdf.epw)
    pdf.set_font("DejaVu", "", 8)

    section("report.per_village")
    table(
        [
            t(k)
            for k in (
                "report.village",
                "report.bulletins",
                "report.played",
                "report.heard",
                "report.fault",
                "report.interrupted",
                "report.missed",
                "report.failed",
                "report.minutes_on_air",
                "report.success_rate",
            )
        ],
        [
            [
                v.village,
                str(v.bulletins),
                str(v.played),
                str(v.heard),
                str(v.fault),
                str(v.interrupted),
                str(v.missed),
                str(v.failed),
                f"{v.minutes_on_air:.1f}",
                _ratio(v.success_rate),
            ]
            for v in report.villages
        ],
        (3, 1, 1, 1, 1, 1, 1, 1, 1.2, 1.2),
    )

    section("report.equipment")
    table(
        [
            t(k)
            for k in (
                "report.cluster",
                "report.village",
                "report.online_hours",
                "report.offline_min",
                "report.online_ratio",
                "report.alarms_raised",
                "report.alarms_cleared",
                "report.mttr",
            )
        ],
        [
            [
                c.cluster,
                ", ".join(c.villages),
                f"{c.online_hours:.1f}",
                f"{c.offline_min:.0f}",
                _ratio(c.online_ratio),
                str(c.alarms_raised),
                str(c.alarms_cleared),
                _number(c.mean_repair_min),
            ]
            for c in report.clusters
        ],
        (2.2, 2.2, 1, 1, 1, 1, 1, 1.2),
    )

    section("report.broadcast_log")
    rows = bulletin_rows(report.lines)
    if not rows:
        pdf.multi_cell(0, 5, t("report.nothing"), new_x="LMARGIN", new_y="NEXT")
    else:
        table(
            [
                t(k)
                for k in (
                    "report.planned_start",
                    "report.bulletin",
                    "report.priority",
                    "report.village",
                    "report.played",
                    "report.minutes_on_air",
                )
            ],
            [
                [
                    _when(r["start"]),
                    r["title"],
                    t(f"priority.{r['priority']}"),
                    ", ".join(r["villages"]),
                    f"{r['played']}/{r['clusters']}",
                    f"{r['minutes']:.1f}",
                ]
                for r in rows[:PDF_LOG_ROWS]
            ],
            (1.6, 3, 1, 2.6, 0.8, 0.8),
        )
        if len(rows) > PDF_LOG_ROWS:
            pdf.multi_cell(0, 5, f"… +{len(rows) - PDF_LOG_ROWS}", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
