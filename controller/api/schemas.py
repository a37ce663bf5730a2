"""Pydantic models of what HTTP clients send (the answers are ``services.views``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, field_validator

from protocol.messages import Priority

from ..domain.device import DeviceKind
from ..domain.types import Ident, Sha256, Target, UtcDatetime

RowId = Annotated[int, PathParam(ge=1, le=2**63 - 1, description="a stored row's number")]
"""An id in a path: a 20-digit number is a 422, not a database overflow (500)."""


class ErrorDetail(BaseModel):
    code: str = Field(description="catalogue key, e.g. device.exists")
    message: str = Field(description="in the caller's language (Accept-Language)")
    messages: dict[str, str] = Field(description="the same in vi and en")
    fields: list[dict[str, object]] | None = Field(None, description="422: each invalid field")


class ErrorOut(BaseModel):
    """Every refusal's body (controller/errors.py)."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorOut, "description": "no valid token or session"},
    403: {"model": ErrorOut, "description": "the caller's roles do not allow it"},
    404: {"model": ErrorOut, "description": "what it names does not exist"},
    409: {"model": ErrorOut, "description": "a state that does not allow it"},
    413: {"model": ErrorOut, "description": "the body is larger than allowed"},
    422: {"model": ErrorOut, "description": "the request does not validate"},
    429: {"model": ErrorOut, "description": "too many failed log-ins: locked for a while"},
}
"""The refusals every route of the API may answer, documented in the OpenAPI once."""

Geocode = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[^\s]+$")]


class ZoneIn(BaseModel):
    id: Ident | None = Field(
        None, description="its code in schedules and targets; made from the name when left out"
    )
    name: str = Field(min_length=1, max_length=200)
    geocodes: list[Geocode] = Field(
        default_factory=list,
        max_length=50,
        description="what CAP alerts call this village: VALUE or valueName=VALUE",
    )

    @field_validator("id", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        """The form's empty field: make the code from the name."""
        return None if value == "" else value


class ZoneRenameIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=200)
    geocodes: list[Geocode] | None = Field(None, max_length=50)
    languages: list[Annotated[str, Field(max_length=16)]] | None = Field(
        None,
        min_length=1,
        max_length=8,
        description="the languages its people hear, in the order a bulletin's versions play "
        '(e.g. ["hmn", "vi"])',
    )


class DeviceIn(BaseModel):
    id: Ident
    name: str = Field(min_length=1, max_length=200)
    zones: list[Ident] = Field(default_factory=list, max_length=64)
    output: str = Field(
        "alsa",
        pattern="^(alsa|file)$",
        description="audio output of the agent: alsa on a Pi, file for tests",
    )
    latitude: float | None = Field(None, ge=-90, le=90, strict=True)
    longitude: float | None = Field(None, ge=-180, le=180, strict=True)
    kind: DeviceKind = Field(
        DeviceKind.cluster,
        description="cluster: loudspeakers on a pole; receiver: a smart IP radio in a home "
        "(our agent); stream_only: a receiver that can only play the station's channel URL",
    )


class LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    latitude: float = Field(ge=-90, le=90, strict=True)  # (strict: JSON false is no number)
    longitude: float = Field(ge=-180, le=180, strict=True)


class PhoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: str | None = Field(
        description="the SIM's number, international (+84…) or national (09…); null: none",
        pattern=r"^\+?[0-9]{6,15}$",
    )

    @field_validator("phone", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        """The page's emptied field: no number."""
        return None if isinstance(value, str) and not value.strip() else value


class DeviceZonesIn(BaseModel):
    zones: list[Ident] = Field(max_length=64)


class BroadcastIn(BaseModel):
    media_sha256: Sha256
    targets: list[Target] = Field(min_length=1, max_length=500)
    start_at: UtcDatetime | None = Field(None, description="absent: now (after a short sync lead)")
    priority: Priority = Priority.normal
    title: str = Field("", max_length=200)
    max_late_s: int | None = Field(
        None, ge=0, le=24 * 3600, description="how late an agent may still start it"
    )
    volume: int | None = Field(None, ge=0, le=100)
    draft: bool = Field(
        False,
        description="keep it as a draft: nothing is sent or waits for "
        "approval until its author submits it",
    )
    quiet_override: bool = Field(
        False,
        description="play inside the quiet hours on purpose "
        "(logged; a broadcaster's still waits for an approver)",
    )
    public: bool | None = Field(
        None,
        description="on the public page and feed once aired (absent: the station's default; "
        "an emergency always is)",
    )
    repeat_every_s: int | None = Field(
        None,
        ge=15,
        le=86400,
        description="play again this "
        "often (each repetition its own broadcast, introduced by "
        "the spoken issue time)",
    )
    repeat_for_s: int | None = Field(
        None,
        ge=1,
        le=7 * 86400,
        description="for this long after the first; absent: until cancelled (at most 24 h)",
    )


class BroadcastUpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    media_sha256: Sha256 = Field(description="the new message for the repetitions to come")


class AlarmAckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field(
        "",
        max_length=80,
        description="who acknowledges; a person's own login is "
        "used instead, this only names the technician behind the bootstrap token",
    )
    note: str = Field(default="", max_length=1000)


class EmergencyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field("Thông báo khẩn cấp", min_length=1, max_length=200)
    targets: list[Target] = Field(default_factory=lambda: ["all"], min_length=1, max_length=500)
    text: str | None = Field(None, max_length=20_000, description="read aloud; or media_sha256")
    voice: str | None = Field(None, max_length=80)
    media_sha256: Sha256 | None = Field(None, description="a recording instead of a text")
    intro: Literal["siren", "chime", "none"] = "siren"
    repeat_every_min: int | None = Field(None, ge=1, le=1440)
    repeat_for_min: int | None = Field(
        None, ge=1, le=7 * 1440, description="absent: until cancelled (at most 24 h)"
    )


class StopIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    targets: list[Target] = Field(min_length=1, max_length=500)
    reason: str = Field(default="", max_length=200)


class VolumeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: int = Field(ge=0, le=100, strict=True)


class CalibrateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    volume: int | None = Field(
        None, ge=1, le=100, strict=True, description="the chime's volume (the agent's own: 30)"
    )


class RescheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start_at: datetime = Field(
        description="the new start; without an offset, in the station's time zone"
    )


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(max_length=1000, description="shown to the broadcaster; not empty")
