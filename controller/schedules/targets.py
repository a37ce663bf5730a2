"""Which devices a target reaches, to tell whether two plays share a loudspeaker. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Fleet:
    """Which devices each zone holds, to tell whether two targets share a loudspeaker."""

    zones: Mapping[str, frozenset[str]]

    @property
    def devices(self) -> frozenset[str]:
        return frozenset().union(*self.zones.values()) if self.zones else frozenset()

    def devices_of(self, target: str) -> frozenset[str]:
        if target == "all":
            return self.devices | {"*"}
        kind, _, ident = target.partition(":")
        if kind == "zone":
            return self.zones.get(ident, frozenset()) | {f"zone:{ident}"}
        return frozenset({ident})

    def zones_of(self, target: str) -> set[str]:
        if target == "all":
            return set(self.zones) | {"*"}
        kind, _, ident = target.partition(":")
        if kind == "zone":
            return {ident}
        return {z for z, members in self.zones.items() if ident in members}
