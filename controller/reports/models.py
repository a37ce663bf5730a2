"""What a station report holds (the page, the CSV, the PDF and the JSON are four faces of it)
and what the provincial export API answers. Times are aware; local ones carry the station's
UTC offset."""

from __future__ import annotations

from datetime import date, datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from ..domain.outcome import Outcome


class BroadcastLine(BaseModel):
    """One bulletin on one cluster."""

    broadcast_id: str
    title: str
    priority: str
    device_id: str
    cluster: str
    villages: list[str] = Field(description="names of the cluster's villages")
    planned_start: datetime
    planned_end: datetime | None = Field(description="start + the audio's length (none: live)")
    actual_start: datetime | None
    actual_end: datetime | None
    duration_s: float = Field(description="seconds actually played")
    outcome: Outcome
    reason: str | None = None
    heard: str | None = Field(
        None, description="the cluster's microphone: heard, quiet, wrong, not_heard, ..."
    )
    receiver: bool = Field(False, description="a home receiver's play, not a cluster's")


class VillageTotals(BaseModel):
    zone_id: str
    village: str
    bulletins: int = Field(description="distinct broadcasts that reached the village")
    deliveries: int = Field(description="bulletin × cluster")
    played: int
    heard: int = Field(0, description="played and heard by the cluster's own microphone")
    fault: int = Field(description="played, but a speaker line carried no current")
    interrupted: int
    missed: int
    failed: int
    minutes_on_air: float = Field(description="per bulletin, the longest its clusters played")
    success_rate: float | None = Field(description="played / meant to play (not cancelled)")


class ClusterEquipment(BaseModel):
    device_id: str
    cluster: str
    villages: list[str]
    status_now: str
    online_hours: float
    offline_min: float = Field(
        description="minutes not online while the controller was watching (since it was "
        "registered, up to now)"
    )
    online_ratio: float | None = Field(
        description="online time / the time watched: the period since it was registered, up "
        "to now, less the controller's own downtime"
    )
    alarms_raised: int
    alarms_cleared: int
    mean_repair_min: float | None = Field(
        description="mean cleared − raised of the alarms that cleared in the period"
    )


class DayOnline(BaseModel):
    day: date
    online_ratio: float | None


class Downtime(BaseModel):
    """A time the station's controller was not running: no one heard the clusters."""

    start: datetime
    end: datetime
    minutes: float


class ReportTotals(BaseModel):
    bulletins: int
    deliveries: int
    played: int
    heard: int = Field(0, description="played and heard by the clusters' microphones")
    homes: int = Field(0, description="played on home receivers (households that heard it)")
    homes_off: int = Field(0, description="not played: the household had switched it off")
    minutes_on_air: float
    success_rate: float | None
    online_ratio: float | None
    alarms_raised: int
    alarms_cleared: int
    mean_repair_min: float | None
    controller_down_min: float = Field(
        description="minutes the controller itself was down in the period (not counted for "
        "or against the clusters)"
    )


class StationReport(BaseModel):
    """A station's broadcasts and equipment over a period."""

    station: str
    period_start: datetime
    period_end: datetime = Field(description="exclusive")
    last_day: date = Field(description="the period's last local day")
    label: str = Field(description="what the period is called, e.g. 11/2026")
    timezone: str
    generated_at: datetime
    counted_until: datetime = Field(
        description="the period's end, or now when it has not ended: nothing is counted for "
        "time still to come"
    )
    totals: ReportTotals
    controller_down: list[Downtime]
    villages: list[VillageTotals]
    clusters: list[ClusterEquipment]
    days: list[DayOnline]
    lines: list[BroadcastLine]


# --- the provincial export API -------------------------------------------------------------


class ExportBulletin(BaseModel):
    """A broadcast and what it did on each cluster."""

    id: str
    title: str
    priority: str
    state: str
    start_at: datetime
    planned_end: datetime | None
    targets: list[str]
    created_by: str
    approved_by: str | None
    outcomes: dict[str, int] = Field(description="outcome → clusters")
    deliveries: list[BroadcastLine]


class ExportDevice(BaseModel):
    id: str
    name: str
    villages: list[str]
    status: str
    status_at: datetime | None
    last_seen_at: datetime | None
    version: str
    retired: bool
    open_alarms: int


class ExportAlarm(BaseModel):
    id: int
    device_id: str | None  # None: the station's own service (broker, stream server)
    code: str
    channel: int | None
    raised_at: datetime
    cleared_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    detail: str
    occurrences: int


Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    """One page of a list: ``next_offset`` is null on the last one."""

    total: int
    offset: int
    limit: int
    next_offset: int | None
    items: list[Item]
