"""The station's report (JSON, CSV, PDF) and the export API the provincial information system
reads with its own token (role ``province``): bulletins and outcomes, devices, alarms."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from ..domain.errors import Invalid
from ..http import ServicesDep, allow
from ..reports.documents import CsvKind, csv_bytes, pdf_bytes
from ..reports.models import ExportAlarm, ExportBulletin, ExportDevice, Page, StationReport

router = APIRouter(tags=["reports"])

MonthQuery = Query(
    None,
    pattern=r"^\d{4}-\d{2}$",
    description="YYYY-MM in the station's time zone (default: this month, counted up to now)",
)
StartQuery = Query(
    None,
    alias="from",
    description="period start (instead of month); without an offset, station time",
)
EndQuery = Query(None, alias="to", description="period end, exclusive")
LangQuery = Query("vi", pattern="^(vi|en)$")


def _report(
    svc: Any, month: str | None, start: datetime | None, end: datetime | None
) -> StationReport:
    if start is not None and end is not None:
        return svc.reports.station(start, end)
    if start is not None or end is not None:
        raise Invalid("report.bad_period")
    lo, hi, label = svc.reports.month(month)
    return svc.reports.station(lo, hi, label)


def _filename(report: StationReport, suffix: str) -> str:
    return f"loalang-report-{report.period_start:%Y-%m-%d}-{suffix}"


@router.get(
    "/api/reports/station", response_model=StationReport, dependencies=[allow("report.read")]
)
def station_report(
    svc: ServicesDep,
    month: str | None = MonthQuery,
    start: datetime | None = StartQuery,
    end: datetime | None = EndQuery,
) -> StationReport:
    """The broadcast log, totals per village and the equipment's record for a period."""
    return _report(svc, month, start, end)


@router.get(
    "/api/reports/station.csv",
    dependencies=[allow("report.read")],
    responses={200: {"content": {"text/csv": {}}}},
)
def station_report_csv(
    svc: ServicesDep,
    month: str | None = MonthQuery,
    start: datetime | None = StartQuery,
    end: datetime | None = EndQuery,
    kind: CsvKind = CsvKind.log,
    lang: str = LangQuery,
) -> Response:
    """One table of the report as CSV (UTF-8 with BOM, local times, headers in ``lang``)."""
    report = _report(svc, month, start, end)
    return Response(
        csv_bytes(report, kind, lang),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{_filename(report, kind.value)}.csv"'
        },
    )


@router.get(
    "/api/reports/station.pdf",
    dependencies=[allow("report.read")],
    responses={200: {"content": {"application/pdf": {}}}},
)
def station_report_pdf(
    svc: ServicesDep,
    month: str | None = MonthQuery,
    start: datetime | None = StartQuery,
    end: datetime | None = EndQuery,
    lang: str = LangQuery,
) -> Response:
    """The report as a PDF: the station's name, totals, charts and tables."""
    report = _report(svc, month, start, end)
    archive = f"{svc.settings.resolved_public_url}/ui/archive?day={report.period_start:%Y-%m-%d}"
    return Response(
        pdf_bytes(report, lang, archive_url=archive),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{_filename(report, "report")}.pdf"'
        },
    )


# --- export API for the provincial system ---------------------------------------------------

Offset = Query(0, ge=0, le=10_000_000)
Limit = Query(100, ge=1, le=1000)
FromQuery = Query(..., alias="from", description="period start (ISO 8601; no offset: station time)")
ToQuery = Query(..., alias="to", description="period end, exclusive")


@router.get(
    "/api/export/v1/bulletins",
    response_model=Page[ExportBulletin],
    dependencies=[allow("export.read")],
)
def export_bulletins(
    svc: ServicesDep,
    start: datetime = FromQuery,
    end: datetime = ToQuery,
    offset: int = Offset,
    limit: int = Limit,
) -> Page[ExportBulletin]:
    """Bulletins sent for a start in ``[from, to)``, oldest first, each with its outcome on
    every cluster. Page on with ``next_offset`` until it is null."""
    return svc.reports.export_bulletins(start, end, offset, limit)


@router.get(
    "/api/export/v1/devices", response_model=Page[ExportDevice], dependencies=[allow("export.read")]
)
def export_devices(
    svc: ServicesDep, offset: int = Offset, limit: int = Limit
) -> Page[ExportDevice]:
    """Every cluster's status now and its open alarms."""
    return svc.reports.export_devices(offset, limit)


@router.get(
    "/api/export/v1/alarms", response_model=Page[ExportAlarm], dependencies=[allow("export.read")]
)
def export_alarms(
    svc: ServicesDep,
    start: datetime = FromQuery,
    end: datetime = ToQuery,
    offset: int = Offset,
    limit: int = Limit,
) -> Page[ExportAlarm]:
    """Alarms raised in ``[from, to)``, oldest first, with when they cleared."""
    return svc.reports.export_alarms(start, end, offset, limit)


@router.get("/api/export/v1/schema", dependencies=[allow("export.read")])
def export_schema() -> dict[str, Any]:
    """The JSON Schema of each export page (what the provincial system can rely on)."""
    return {
        "version": 1,
        "bulletins": Page[ExportBulletin].model_json_schema(),
        "devices": Page[ExportDevice].model_json_schema(),
        "alarms": Page[ExportAlarm].model_json_schema(),
    }
