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


class DeviceKind(enum.StrEnum):
    """What a device is, chosen at registration: it decides what the agent's config holds,
    how a play on it is counted, and whether it is sent anything at all."""

    cluster = "cluster"  # a loudspeaker cluster on a pole: horns, amplifier, perhaps a board
    receiver = "receiver"  # a smart IP radio receiver in a home, office or school (our agent)
    stream_only = "stream_only"  # a third party's receiver that can only play a stream URL

    @property
    def runs_agent(self) -> bool:
        """A stream-only receiver has no agent: it is sent no commands, it tunes to the
        station's channel, and the stream server's listener records are its proof."""
        return self is not DeviceKind.stream_only
