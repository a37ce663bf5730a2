"""Signed commands in, one at a time: verified (signature, target, sequence, validity), their
sequence number kept on disk before anything is done, acknowledged, then acted on. A command
refused is reported as a security event; the broker redelivering the last one is counted."""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Callable
from datetime import datetime

from protocol.envelope import Rejected, verify
from protocol.messages import (
    CalibrateHearingCommand,
    CancelCommand,
    PinCommand,
    PlayCommand,
    PrepareCommand,
    RetireKeyCommand,
    SetVolumeCommand,
    SetZonesCommand,
    StopCommand,
    TrustKeyCommand,
    UpdateCommand,
    to_builtins,
    utcnow,
)

from .cluster import Cluster
from .link import MqttLink
from .player import Player
from .reports import Reporter
from .state import AgentState
from .trust import TrustedKeys
from .update import Updater

log = logging.getLogger(__name__)


class CommandDispatcher:
    def __init__(
        self,
        device_id: str,
        state: AgentState,
        keys: TrustedKeys,
        reporter: Reporter,
        player: Player,
        cluster: Cluster,
        updates: Updater,
        prepare: Callable[[PrepareCommand, datetime], None],
        lock: threading.Lock,
    ):
        self.device_id = device_id
        self._state = state
        self._keys = keys
        self._reporter = reporter
        self._player = player
        self._cluster = cluster
        self._updates = updates
        self._prepare = prepare
        self._lock = lock  # shared with the plan keeper: sequence checks never interleave
        self.link: MqttLink | None = None  # (made with this dispatcher's handler)
        self.on_zones: Callable[[], None] = lambda: None  # the retained birth says them again
        self.on_pin: Callable[[PinCommand], None] = lambda command: None  # the pinned set
        self.on_calibrate: Callable[[int], None] = lambda volume: None  # the microphone's
        self.duplicates_ignored = 0

    def on_command(self, topic: str, raw: bytes) -> None:
        """Verify, persist the sequence number, acknowledge, then act."""
        with self._lock:
            now = utcnow()
            try:
                command = verify(
                    raw,
                    keys=self._keys(),
                    device_id=self.device_id,
                    zones=set(self._state.zones),
                    last_seq=self._state.last_seq,
                    last_cmd=self._state.last_cmd,
                    now=now,
                )
            except Rejected as rej:
                self._refused(topic, rej)
                return
            body = command.body
            play = body if isinstance(body, PlayCommand) else None
            try:
                new_play = self._state.accept(
                    command.target,
                    command.seq,
                    play.play_id if play else None,
                    play.start_at if play else None,
                    now,
                    command.cmd_id,
                    pending={"cmd": to_builtins(play), "not_after": command.not_after.isoformat()}
                    if play
                    else None,
                )
            except OSError as exc:
                # its sequence number cannot be kept, so it must not be obeyed: refused, said
                log.error("command %s refused: state not writable (%s)", command.cmd_id, exc)
                self._reporter.ack(
                    command.cmd_id,
                    getattr(body, "play_id", None),
                    refused="disk_full" if exc.errno == errno.ENOSPC else "storage_error",
                )
                return
            prepare = body if isinstance(body, PrepareCommand) else None
            # a prepare's ack names no play: the play's own ack is what delivers it
            self._reporter.ack(command.cmd_id, None if prepare else getattr(body, "play_id", None))
            if prepare is not None:
                self._prepare(prepare, command.not_after)
            elif play is not None:
                # once per play id: already scheduled here, or handled before a restart
                if not self._player.has(play.play_id) and (new_play or play.start_at > now):
                    self._player.schedule(play, command.not_after)
                else:
                    log.info("play %s already handled", play.play_id)
            else:
                self._act(body, command.kid, command.cmd_id)

    def _refused(self, topic: str, rej: Rejected) -> None:
        if rej.reason == "duplicate":
            # The last accepted command again: the broker redelivering an unacknowledged
            # QoS 1 message after a reconnect. Harmless (already acted on); counted.
            self.duplicates_ignored += 1
            log.info("duplicate delivery of %s ignored", rej.cmd_id)
            return
        body = rej.payload.get("body") if isinstance(rej.payload.get("body"), dict) else {}
        play_id = body.get("play_id") if isinstance(body.get("play_id"), str) else None
        if rej.reason == "expired" and play_id in self._state.plays:
            # a late copy of a play this device already handled (from its plan while the link
            # was down, or before): the broker's backlog, nothing missed
            log.info("expired copy of %s, already handled, ignored", play_id)
            return
        log.warning("refused command on %s: %s", topic, rej)
        self._reporter.refused(rej, topic, play_id)

    def _act(self, body: object, kid: str, cmd_id: str) -> None:
        """Every command but a play and a prepare."""
        if isinstance(body, CancelCommand):
            if body.ended:
                self._player.end(body.play_id)
            else:
                self._player.cancel(body.play_id)
        elif isinstance(body, StopCommand):
            self._player.stop_now(f"stop: {body.reason}" if body.reason else "stop")
        elif isinstance(body, SetVolumeCommand):
            self._state.set_volume(body.level)
            self._cluster.set_volume(body.level)
        elif isinstance(body, SetZonesCommand):
            self._state.set_zones(list(body.zones))
            if self.link is not None:
                self.link.set_zones(list(body.zones))
            self.on_zones()
        elif isinstance(body, TrustKeyCommand):
            self._keys.trust(body.kid, body.key)
            log.info("signing key %s trusted (announced by %s)", body.kid, kid)
        elif isinstance(body, RetireKeyCommand):
            self._keys.retire(body.kid)
            log.warning("signing key %s retired (by %s)", body.kid, kid)
        elif isinstance(body, UpdateCommand):
            self._updates.handle(body, cmd_id)
        elif isinstance(body, PinCommand):
            self.on_pin(body)
        elif isinstance(body, CalibrateHearingCommand):
            self.on_calibrate(body.volume)
