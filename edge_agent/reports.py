"""Everything the agent tells the controller goes through here: into the on-disk outbox first
(the link flushes it with QoS 1 and deletes it on the controller's receipt), or, when the disk
is full, straight to the broker from memory. Acks and plays are counted on the way."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from protocol import topics
from protocol.envelope import Rejected
from protocol.messages import (
    AckMessage,
    AgentCounters,
    PlaybackFinishedEvent,
    PlaybackStartedEvent,
    SecurityEvent,
    encode,
    utcnow,
)
from protocol.topics import DeviceTopicKind

from .link import MqttLink
from .outbox import Outbox

log = logging.getLogger(__name__)


class Reporter:
    def __init__(self, device_id: str, outbox: Outbox, link: MqttLink | None = None):
        self.device_id = device_id
        self.outbox = outbox
        self.link = link  # set once the link exists (it is made with this reporter's outbox)
        self.counters = AgentCounters()  # commands, plays (the link counts its own)

    def event(self, event: Any) -> None:
        """An agent event (playback, security, alarm, update)."""
        if isinstance(event, PlaybackStartedEvent):
            self.counters.plays_started += 1
        elif isinstance(event, PlaybackFinishedEvent):
            self.counters.plays_finished += 1
        self.put("event", encode(event), event.event_id)

    def refused(self, rej: Rejected, topic: str, play_id: str | None = None) -> None:
        """A signed message (command or plan) this agent refused: a security event."""
        self.event(
            SecurityEvent(
                event_id=uuid.uuid4().hex,
                device_id=self.device_id,
                ts=utcnow(),
                reason=rej.reason,
                detail=rej.detail[:300],
                topic=topic[:200],
                cmd_id=rej.cmd_id,
                play_id=play_id,
            )
        )

    def ack(self, cmd_id: str, play_id: str | None, refused: str | None = None) -> None:
        """Once per command received: accepted, or refused with a reason."""
        ack = AckMessage(
            event_id=uuid.uuid4().hex,
            device_id=self.device_id,
            cmd_id=cmd_id,
            ts=utcnow(),
            accepted=refused is None,
            reason=refused,
            play_id=play_id,
        )
        if refused is None:
            self.counters.commands_accepted += 1
        else:
            self.counters.commands_refused += 1
        self.put("ack", encode(ack), ack.event_id)

    def put(self, kind: DeviceTopicKind, payload: bytes, key: str, droppable: bool = False) -> None:
        """Into the outbox; on a full disk straight to the broker from memory (lost in a
        power cut, but told now rather than never)."""
        topic = topics.device_topic(self.device_id, kind)
        try:
            self.outbox.put(topic, payload, droppable=droppable, key=key)
        except OSError as exc:
            log.error("outbox not writable (%s): %s sent from memory", exc, kind)
            if self.link is not None:
                self.link.publish_now(topic, payload)
