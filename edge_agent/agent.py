"""Wires the agent's parts together: link, verification, state, cache, player, outbox, health."""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

from protocol import topics
from protocol.envelope import Rejected, verify
from protocol.messages import (
    AckMessage,
    CancelCommand,
    DeviceState,
    PlayCommand,
    SecurityEvent,
    SetZonesCommand,
    StatusMessage,
    StopCommand,
    utcnow,
)

from .cache import MediaCache
from .config import AgentConfig
from .health import read_health
from .link import MqttLink
from .outbox import Outbox
from .outputs.base import AudioOutput
from .player import Player
from .state import AgentState

log = logging.getLogger(__name__)

CAPABILITIES = ["play", "cancel", "stop", "set_zones", "range-download"]


def _version() -> str:
    from loalang import __version__

    return __version__


def make_output(config: AgentConfig) -> AudioOutput:
    if config.output.backend == "file":
        from .outputs.file import FileOutput

        return FileOutput(config.output_dir)
    from .outputs.alsa import AlsaOutput

    return AlsaOutput(config.output.device)


class Agent:
    def __init__(self, config: AgentConfig, output: AudioOutput | None = None):
        self.config = config
        self.device_id = config.device_id
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self._keys = config.public_keys()
        self.state = AgentState(config.data_dir / "state.json", config.zones)
        self.outbox = Outbox(config.data_dir / "outbox")
        self.cache = MediaCache(config.data_dir / "cache", config.controller_url, config.token)
        self.output = output or make_output(config)
        self.player = Player(self.device_id, self.output, self.cache, self.report_event,
                             ffmpeg=config.ffmpeg,
                             pcm_max_ms=round(config.pcm_cache_max_s * 1000))
        self.link = MqttLink(config.mqtt, self.device_id, self.state.zones, self.outbox,
                             self.on_command, self._birth)
        self._command_lock = threading.Lock()
        self.duplicates_ignored = 0
        self._stop = threading.Event()
        self._health_thread = threading.Thread(target=self._health_loop, name="health",
                                               daemon=True)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self.link.start()
        self._health_thread.start()
        log.info("agent %s started (zones: %s)", self.device_id, ", ".join(self.state.zones))

    def stop(self) -> None:
        self._stop.set()
        self.player.shutdown()
        self.link.stop()
        self.cache.close()

    def kill(self) -> None:
        """Vanish without a goodbye, as on a power cut (tests)."""
        self._stop.set()
        self.player.shutdown()
        self.link.kill()

    def _birth(self) -> StatusMessage:
        return StatusMessage(device_id=self.device_id, state=DeviceState.online, ts=utcnow(),
                             version=_version(),
                             capabilities=[*CAPABILITIES, f"output:{self.output.name}"],
                             zones=self.state.zones)

    # --- reporting ------------------------------------------------------------------------

    def report_event(self, event: Any) -> None:
        """Every report goes to the on-disk outbox first; the link flushes it with QoS 1."""
        self.outbox.put(topics.device_topic(self.device_id, "event"),
                        event.model_dump_json(exclude_none=True).encode())

    def _ack(self, cmd_id: str, play_id: str | None) -> None:
        ack = AckMessage(event_id=uuid.uuid4().hex, device_id=self.device_id, cmd_id=cmd_id,
                         ts=utcnow(), accepted=True, play_id=play_id)
        self.outbox.put(topics.device_topic(self.device_id, "ack"),
                        ack.model_dump_json(exclude_none=True).encode())

    def _health_loop(self) -> None:
        while not self._stop.is_set():
            try:
                report = read_health(self.device_id, _version(), self.config.data_dir,
                                     self.cache.usage(), len(self.outbox),
                                     self.duplicates_ignored)
                self.outbox.put(topics.device_topic(self.device_id, "telemetry"),
                                report.model_dump_json(exclude_none=True).encode(),
                                droppable=True)
            except Exception:
                log.exception("health report failed")
            self._stop.wait(self.config.health_interval_s)

    # --- commands -------------------------------------------------------------------------

    def on_command(self, topic: str, raw: bytes) -> None:
        """Verify, persist the sequence number, acknowledge, then act."""
        with self._command_lock:  # one at a time: sequence checks must not interleave
            now = utcnow()
            try:
                command = verify(raw, keys=self._keys, device_id=self.device_id,
                                 zones=set(self.state.zones), last_seq=self.state.last_seq,
                                 now=now)
            except Rejected as rej:
                target, seq = rej.payload.get("target"), rej.payload.get("seq")
                if rej.reason == "replayed" and isinstance(target, str) and \
                        isinstance(seq, int) and self.state.is_duplicate(target, seq, rej.cmd_id):
                    # The last accepted command again: the broker redelivering an unacknowledged
                    # QoS 1 message after a reconnect. Harmless (already acted on); counted.
                    self.duplicates_ignored += 1
                    log.info("duplicate delivery of %s ignored", rej.cmd_id)
                    return
                log.warning("refused command on %s: %s", topic, rej)
                body = rej.payload.get("body") if isinstance(rej.payload.get("body"), dict) else {}
                play_id = body.get("play_id") if isinstance(body.get("play_id"), str) else None
                self.report_event(SecurityEvent(
                    event_id=uuid.uuid4().hex, device_id=self.device_id, ts=now,
                    reason=rej.reason, detail=rej.detail[:300], topic=topic[:200],
                    cmd_id=rej.cmd_id, play_id=play_id))
                return
            body = command.body
            play = body if isinstance(body, PlayCommand) else None
            new_play = self.state.accept(command.target, command.seq,
                                         play.play_id if play else None,
                                         play.start_at if play else None, now, command.cmd_id)
            self._ack(command.cmd_id, getattr(body, "play_id", None))
            if play is not None:
                if new_play:
                    self.player.schedule(play, command.not_after)
                else:
                    log.info("play %s already handled", play.play_id)
            elif isinstance(body, CancelCommand):
                self.player.cancel(body.play_id)
            elif isinstance(body, StopCommand):
                self.player.stop_current("stop")
            elif isinstance(body, SetZonesCommand):
                self.state.set_zones(list(body.zones))
                self.link.set_zones(list(body.zones))
                self.link.publish_status(self._birth())
