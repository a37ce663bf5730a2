"""The station's report page (a month's totals, villages and equipment, with the CSV and PDF
to send the province: the report API's downloads) and the notices it was sent."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from ...auth import Principal
from ...domain.errors import Invalid
from ...http import ServicesDep
from ...i18n import translate
from ...reports.documents import counting_notes
from ..render import lang_of, page, render

router = APIRouter(prefix="/ui", tags=["web"], include_in_schema=False)


@router.get("/reports", response_class=HTMLResponse)
def reports_page(
    request: Request,
    svc: ServicesDep,
    month: str = Query("", max_length=7),
    who: Principal = page("report.read"),
) -> HTMLResponse:
    """This month so far by default; another month (the one to send) from the picker."""
    error = ""
    try:
        start, end, label = svc.reports.month(month or None)
    except Invalid as exc:
        error = translate(exc.key, lang_of(request), **exc.params)
        start, end, label = svc.reports.month(None)
    report = svc.reports.station(start, end, label)
    chosen = f"{report.period_start:%Y-%m}"
    return render(
        request,
        "reports.html",
        who,
        report=report,
        notes=counting_notes(report, lang_of(request)),
        month=chosen,
        error=error,
        query=urlencode({"month": chosen, "lang": lang_of(request)}),
    )


@router.get("/notices", response_class=HTMLResponse)
def notices_page(
    request: Request, svc: ServicesDep, who: Principal = page("alarm.read")
) -> HTMLResponse:
    """What the station was told lately (the web UI's own channel), newest first."""
    return render(request, "notices.html", who, notices=svc.notices.shown(200))
