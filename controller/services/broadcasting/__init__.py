"""Broadcasts: their life (``lifecycle``), on their way (``sending``), streams (``streams``),
when they play (``timing``), held too long (``expiry``), and how they are read (``queries``)."""

from .expiry import HeldExpiry
from .lifecycle import BroadcastService
from .queries import BroadcastQueries, broadcast_out
from .records import BroadcastRequest, StreamRequest, resolve_devices
from .sending import BroadcastSender
from .streams import StreamBroadcasts
from .timing import BroadcastTimes

__all__ = [
    "BroadcastQueries",
    "BroadcastRequest",
    "BroadcastSender",
    "BroadcastService",
    "BroadcastTimes",
    "HeldExpiry",
    "StreamBroadcasts",
    "StreamRequest",
    "broadcast_out",
    "resolve_devices",
]
