"""``create_app()``: the FastAPI application; its lifespan starts and stops the services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response

from loalang import __version__

from .api import (
    alarms,
    archive,
    audit,
    broadcasts,
    cap,
    devices,
    edge,
    keys,
    live,
    media,
    notices,
    pinned,
    reports,
    schedules,
    session,
    speech,
    station,
    stop,
    updates,
    users,
    zones,
)
from .api.schemas import ERROR_RESPONSES
from .body_limits import BodyLimits
from .container import Services
from .domain.errors import NotFound
from .errors import install_handlers
from .http import allow
from .metrics import CONTENT_TYPE as METRICS_TYPE
from .settings import Settings


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """Build the app; pass ``services`` to share an already started container (tests, demo)."""
    owned = services is None
    svc = services or Services(settings or Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if owned:
            svc.start()
        try:
            yield
        finally:
            if owned:
                svc.stop()

    app = FastAPI(
        title="Loa Làng controller",
        version=__version__,
        lifespan=lifespan,
        description="Commune IP-radio controller: media, devices, zones, broadcasts.",
    )
    app.state.services = svc
    install_handlers(app)
    app.add_middleware(BodyLimits, services=svc)  # before any route reads a byte of a body
    for module in (
        archive,
        media,
        speech,
        zones,
        devices,
        broadcasts,
        schedules,
        alarms,
        stop,
        edge,
        users,
        audit,
        session,
        cap,
        live,
        keys,
        reports,
        notices,
        updates,
        pinned,
        station,
    ):
        app.include_router(module.router, responses=ERROR_RESPONSES)
    app.include_router(schedules.changes_router, responses=ERROR_RESPONSES)
    from .web import install as install_web

    install_web(app)

    @app.get("/tls/ca.crt", tags=["ops"], response_class=Response)
    def station_ca() -> Response:
        """The station's own certificate authority, to trust on a phone or PC before opening
        the web UI over HTTPS (docs/operations.md); 404 with the operator's own certificate."""
        ca = svc.settings.data_dir / "tls" / "ca.crt"
        if svc.settings.tls_cert is not None or not ca.is_file():
            raise NotFound("tls.no_ca")
        return Response(
            ca.read_bytes(),
            media_type="application/x-x509-ca-cert",
            headers={"Content-Disposition": 'attachment; filename="loalang-ca.crt"'},
        )

    @app.get(
        "/metrics",
        tags=["ops"],
        response_class=Response,
        dependencies=[allow("metrics.read")],
        responses={200: {"content": {"text/plain": {}}}},
    )
    def metrics() -> Response:
        """Prometheus metrics (a technician's or admin's token: ``authorization`` in the
        scrape config; ``deploy/prometheus.yml``)."""
        return Response(svc.metrics.exposition(), media_type=METRICS_TYPE)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, object]:
        return {
            "ok": True,
            "version": __version__,
            "mqtt": svc.gateway.connected.is_set(),
            "key_id": svc.key.kid,
            "controller_id": svc.controller_id,
            "leader": svc.leadership.is_leader,
        }

    return app
