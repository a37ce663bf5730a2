"""The controller's Prometheus metrics: read from the services when scraped (devices by
state, alarms, deliveries, queues) plus two histograms observed as things happen (a report's
ingest lag, a command's publish → PUBACK). One registry per controller, not the global one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from loalang import __version__
from protocol.messages import utcnow

from .children import ChildStatus
from .db.models import Alarm, Broadcast, Command, Delivery, Device, MediaJob
from .domain.command import CommandState
from .domain.jobs import MediaJobState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

DELIVERIES_WINDOW = timedelta(hours=24)
"""``loalang_deliveries`` counts the deliveries of bulletins that started this recently."""


@dataclass(frozen=True)
class Readings:
    """What the collector reads at scrape time, each through one narrow call."""

    controller_id: str
    sessions: sessionmaker[Session]
    is_leader: Callable[[], bool]
    broker_connected: Callable[[], bool]
    children: Callable[[], list[ChildStatus]]
    reports: Callable[[], tuple[int, int, int]]  # applied, refused, failed (an error)
    ingest_backlog: Callable[[], int]
    broker_denials: Callable[[], int]


class Metrics:
    """The registry and the histograms the services observe into (their ``observe``
    callables are handed to them when they are made); ``read`` adds what is read at scrape."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()  # no auto-describe: no query before migrations
        self.ingest_lag = Histogram(
            "loalang_ingest_lag_seconds",
            "A report received → committed with its receipt due",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.publish = Histogram(
            "loalang_command_publish_seconds",
            "A command published → the broker's PUBACK",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
            registry=self.registry,
        )

    def read(self, readings: Readings) -> None:
        self.registry.register(_ServicesCollector(readings))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _ServicesCollector(Collector):
    """Values read at scrape time: a few grouped queries, no per-device work."""

    def __init__(self, readings: Readings):
        self._read = readings

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | InfoMetricFamily]:
        svc = self._read
        info = InfoMetricFamily("loalang_controller", "This controller")
        info.add_metric([], {"version": __version__, "controller_id": svc.controller_id})
        yield info
        yield _gauge(
            "loalang_leader",
            "1 if this controller runs the scheduler and plans",
            1 if svc.is_leader() else 0,
        )
        yield _gauge(
            "loalang_broker_connected",
            "1 while the command session is connected",
            1 if svc.broker_connected() else 0,
        )
        up = GaugeMetricFamily(
            "loalang_service_up",
            "1 while a process this controller runs (mosquitto, icecast) is up",
            labels=["service"],
        )
        failing = GaugeMetricFamily(
            "loalang_service_failing",
            "1 while it keeps dying (an alarm is open)",
            labels=["service"],
        )
        restarts = CounterMetricFamily(
            "loalang_service_restarts", "Started again after dying", labels=["service"]
        )
        for child in svc.children():
            up.add_metric([child.name], 1 if child.up else 0)
            failing.add_metric([child.name], 1 if child.failing else 0)
            restarts.add_metric([child.name], child.restarts)
        yield up
        yield failing
        yield restarts
        since = utcnow() - DELIVERIES_WINDOW
        with svc.sessions() as session:
            devices = GaugeMetricFamily(
                "loalang_devices", "Clusters in service by status", labels=["status"]
            )
            counts = dict(
                session.execute(
                    select(Device.status, func.count())
                    .where(Device.retired.is_(False))
                    .group_by(Device.status)
                ).all()
            )
            for status in sorted({"online", "offline", "stopped", "unknown", *counts}):
                devices.add_metric([status], counts.get(status, 0))
            yield devices
            alarms = GaugeMetricFamily(
                "loalang_alarms_active", "Alarms not cleared, by code", labels=["code"]
            )
            for code, n in session.execute(
                select(Alarm.code, func.count())
                .where(Alarm.cleared_at.is_(None))
                .group_by(Alarm.code)
            ):
                alarms.add_metric([code], n)
            yield alarms
            deliveries = GaugeMetricFamily(
                "loalang_deliveries",
                "Deliveries of bulletins started in the last 24 h, by state",
                labels=["state"],
            )
            for state, n in session.execute(
                select(Delivery.state, func.count())
                .join(Broadcast)
                .where(Broadcast.start_at >= since)
                .group_by(Delivery.state)
            ):
                deliveries.add_metric([state], n)
            yield deliveries
            yield _gauge(
                "loalang_commands_pending",
                "Commands signed and waiting for the broker",
                session.scalar(
                    select(func.count())
                    .select_from(Command)
                    .where(Command.state == CommandState.pending)
                )
                or 0,
            )
            yield _gauge(
                "loalang_media_jobs_waiting",
                "Uploads and texts being processed",
                session.scalar(
                    select(func.count())
                    .select_from(MediaJob)
                    .where(MediaJob.state.in_(MediaJobState.unfinished()))
                )
                or 0,
            )
        processed = CounterMetricFamily(
            "loalang_reports",
            "Agent reports applied, rejected (malformed or refused) or failed (not stored for "
            "an error, such as a database refusing writes: sent again by the agent)",
            labels=["result"],
        )
        applied, rejected, failed = svc.reports()
        processed.add_metric(["applied"], applied)
        processed.add_metric(["rejected"], rejected)
        processed.add_metric(["failed"], failed)
        yield processed
        denials = CounterMetricFamily(
            "loalang_broker_denials", "Refusals the broker logged for devices' log-ins (ACL)"
        )
        denials.add_metric([], svc.broker_denials())
        yield denials
        yield _gauge(
            "loalang_ingest_backlog",
            "Reports received, not yet committed and receipted",
            svc.ingest_backlog(),
        )


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)
