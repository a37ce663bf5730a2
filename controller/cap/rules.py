"""What a station does with an alert: its severity, urgency and certainty → an immediate
emergency, a scheduled advisory, or nothing (a table in settings, first match wins); and which
villages its areas cover. Pure."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .alert import Area, Info

Action = Literal["emergency", "advisory", "ignore"]


class CapRule(BaseModel):
    """One row of the table: ``*`` matches anything."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    urgency: list[str] = Field(default_factory=lambda: ["*"])
    severity: list[str] = Field(default_factory=lambda: ["*"])
    certainty: list[str] = Field(default_factory=lambda: ["*"])
    action: Action
    repeat_every_min: int | None = Field(
        None, ge=1, le=1440, description="repeat until the alert expires"
    )

    def matches(self, info: Info) -> bool:
        return all(
            "*" in allowed or value in allowed
            for allowed, value in (
                (self.urgency, info.urgency),
                (self.severity, info.severity),
                (self.certainty, info.certainty),
            )
        )


DEFAULT_RULES = [
    CapRule(
        urgency=["Immediate", "Expected"],
        severity=["Extreme", "Severe"],
        certainty=["Observed", "Likely"],
        action="emergency",
        repeat_every_min=120,
    ),
    CapRule(
        severity=["Extreme", "Severe", "Moderate"],
        certainty=["Observed", "Likely", "Possible"],
        action="advisory",
    ),
    CapRule(action="ignore"),
]


def rule_for(info: Info, rules: Iterable[CapRule]) -> CapRule:
    """The first rule that matches (a table without a catch-all ignores the rest)."""
    for rule in rules:
        if rule.matches(info):
            return rule
    return CapRule(action="ignore")


# --- areas → villages -------------------------------------------------------------------------


def _inside(lat: float, lon: float, polygon: list[tuple[float, float]]) -> bool:
    """Ray casting on (lat, lon) pairs; a village's few kilometres make the plane exact enough."""
    inside = False
    for (y1, x1), (y2, x2) in zip(polygon, polygon[1:], strict=False):
        if (y1 > lat) != (y2 > lat) and lon < (x2 - x1) * (lat - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))


def _geocode_matches(zone_code: str, value_name: str, value: str) -> bool:
    """A zone's geocode is ``VALUE`` or ``valueName=VALUE`` (names compared case-blind)."""
    name, _, code = zone_code.rpartition("=")
    return code == value and (not name or name.lower() == value_name.lower())


def zones_for(
    areas: Iterable[Area],
    zone_geocodes: Mapping[str, list[str]],
    device_places: Iterable[tuple[float, float, Iterable[str]]],
) -> set[str]:
    """Villages an alert's areas cover: by geocode, or any of their loudspeakers inside a
    polygon or circle."""
    areas = list(areas)
    places = list(device_places)
    covered: set[str] = set()
    for area in areas:
        for zone, codes in zone_geocodes.items():
            if any(_geocode_matches(c, n, v) for c in codes for n, v in area.geocodes):
                covered.add(zone)
        for lat, lon, zones in places:
            if any(_inside(lat, lon, p) for p in area.polygons) or any(
                _km(lat, lon, clat, clon) <= radius for clat, clon, radius in area.circles
            ):
                covered.update(zones)
    return covered
