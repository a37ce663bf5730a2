"""A device as the controller sees it: its status, from its retained status topic (the agent's
birth, its goodbye, or the broker's last-will) and ``unknown`` until the first. Pure."""

from __future__ import annotations

import enum


class DeviceStatus(enum.StrEnum):
    online = "online"
    offline = "offline"  # the link was lost (the broker published its last-will)
    stopped = "stopped"  # its service was stopped on purpose (it said goodbye)
    unknown = "unknown"  # registered, never heard from

    @property
    def reachable(self) -> bool:
        return self is DeviceStatus.online
