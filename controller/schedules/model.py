"""A site's schedules as typed models: programmes, recurrence rules, quiet hours.

What a schedule file (YAML) and ``PUT /api/schedules`` hold; pure, no I/O. Recurrence is an
RFC 5545 RRULE evaluated in local civil time (``recurrence.py``).
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrulestr
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from protocol.messages import Priority

from ..domain.types import Ident, Sha256, Target

Day = date  # alias: ScheduleSpec has a field named "date"

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MediaItem(_Model):
    """A stored bulletin, by the SHA-256 the controller gave it."""

    media: Sha256


class TextItem(_Model):
    """A text read aloud. The controller speaks it when the schedule is applied and fills in
    ``media`` (the bulletin it made), so plans still carry only stored, signed media."""

    text: str = Field(min_length=1, max_length=20_000)
    voice: str | None = Field(
        None,
        max_length=80,
        description="e.g. espeak:vi-vn-x-south; the station's default if not given",
    )
    language: str = Field("vi", pattern=r"^[a-z]{2,3}$")
    media: Sha256 | None = Field(None, description="filled in by the controller when applied")

    @field_validator("text")
    @classmethod
    def _has_words(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the text is empty")
        return value.strip()


class RelayItem(_Model):
    """A live stream (VOV, provincial station) relayed for a fixed time."""

    relay: str = Field(pattern=r"^https?://", max_length=500)
    duration_s: int = Field(ge=1, le=6 * 3600)
    fallback: list[str] = Field(
        default_factory=list, max_length=5, description="URLs tried in order when the relay is down"
    )
    fallback_media: Sha256 | None = Field(
        None, description="a stored bulletin played when every URL is down or silent"
    )

    @field_validator("fallback")
    @classmethod
    def _http_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("http://", "https://")) or len(url) > 500:
                raise ValueError(f"fallback {url[:60]!r} is not an http(s) URL")
        return value


ProgrammeItem = Annotated[MediaItem | TextItem | RelayItem, Field(union_mode="left_to_right")]


def item_media(item: MediaItem | TextItem | RelayItem) -> str | None:
    """The stored bulletin an item plays (a text's once it is spoken); None for a relay."""
    return item.media if isinstance(item, (MediaItem, TextItem)) else None


class ScheduleSpec(_Model):
    """One programme and when it plays: once (``date``) or on a recurrence rule (``rrule``)."""

    name: Ident
    title: str = Field("", max_length=200)
    targets: list[Target] = Field(min_length=1)
    priority: Literal["background", "normal", "priority", "emergency"] = "normal"
    start: time = Field(description="local civil time of the first item")
    rrule: str | None = Field(None, description="RFC 5545 rule, e.g. FREQ=WEEKLY;BYDAY=MO")
    date: Day | None = Field(None, description="for a one-off programme")
    valid_from: Day | None = None
    valid_until: Day | None = None
    except_dates: list[Day] = Field(default_factory=list)
    slot_minutes: int | None = Field(None, ge=1, le=24 * 60)
    timezone: str | None = None
    programme: list[ProgrammeItem] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("rrule")
    @classmethod
    def _parsable(cls, value: str | None) -> str | None:
        if value is not None:
            if "DTSTART" in value.upper():
                raise ValueError("give start/valid_from/valid_until instead of DTSTART")
            try:
                rrulestr(value, dtstart=datetime(2026, 1, 1))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"invalid rrule: {exc}") from None
        return value

    @model_validator(mode="after")
    def _once_or_recurring(self) -> ScheduleSpec:
        if (self.rrule is None) == (self.date is None):
            raise ValueError("give either 'rrule' (recurring) or 'date' (once)")
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        rule = (self.rrule or "").upper()
        if ("INTERVAL=" in rule or "COUNT=" in rule) and self.valid_from is None:
            # every 2nd day / the first 5 times: counted from valid_from, so it must be given
            raise ValueError("a rule with INTERVAL or COUNT needs valid_from to count from")
        return self

    @property
    def rank(self) -> int:
        return Priority(self.priority).rank


class QuietHours(_Model):
    """Only emergencies may play between ``start`` and ``end`` (local time; may cross midnight)."""

    zones: list[str] = Field(default_factory=lambda: ["*"], description='zone ids, or "*"')
    start: time
    end: time


class ScheduleSet(_Model):
    """Everything a site schedules: its time zone, quiet hours and programmes."""

    timezone: str = DEFAULT_TIMEZONE
    quiet_hours: list[QuietHours] = Field(default_factory=list)
    schedules: list[ScheduleSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> ScheduleSet:
        seen: set[str] = set()
        for s in self.schedules:
            if s.name in seen:
                raise ValueError(f"schedule name {s.name!r} is used twice")
            seen.add(s.name)
        return self
