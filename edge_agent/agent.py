"""Wires the agent's parts together: link, verification, state, cache, player, outbox, health."""

from __future__ import annotations

import errno
import json
import logging
import threading
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocol import topics
from protocol.envelope import Rejected, load_public_key, verify
from protocol.messages import (
    AckMessage,
    AgentCounters,
    CancelCommand,
    DeviceState,
    MediaReadyEvent,
    PlanCommand,
    PlaybackFailedEvent,
    PlaybackFinishedEvent,
    PlaybackStartedEvent,
    PlayCommand,
    PrepareCommand,
    RetireKeyCommand,
    SecurityEvent,
    SetVolumeCommand,
    SetZonesCommand,
    StatusMessage,
    StopCommand,
    TrustKeyCommand,
    UpdateCommand,
    convert,
    encode,
    to_builtins,
    utcnow,
)
from protocol.topics import DeviceTopicKind

from .alarms import Thresholds
from .cache import MediaCache
from .cluster import Cluster
from .config import AgentConfig, HardwareConfig
from .fsutil import atomic_write, read_json
from .hardware.base import ClusterBoard
from .health import read_health
from .link import MqttLink
from .network import read_network
from .outbox import Outbox
from .outputs.base import AudioOutput
from .player import Player
from .sources import MediaSources
from .state import AgentState
from .timesync import OffsetReader
from .update import Releases, Updater

log = logging.getLogger(__name__)

CAPABILITIES = [
    "play",
    "prepare",
    "cancel",
    "stop",
    "set_zones",
    "set_volume",
    "stream",
    "range-download",
    "live",
    "update",
]


def _version() -> str:
    from loalang import __version__

    return __version__


def make_output(config: AgentConfig) -> AudioOutput:
    if config.output.backend == "file":
        from .outputs.file import FileOutput

        return FileOutput(config.output_dir)
    from .outputs.alsa import AlsaOutput

    return AlsaOutput(config.output.device)


def make_board(config: HardwareConfig) -> ClusterBoard:
    if config.backend == "mcu":
        from .hardware.mcu import McuBoard

        return McuBoard(config.port, config.baudrate)
    if config.backend == "usb_relay":
        from .hardware.relay import RelayBoard

        return RelayBoard(config.port, config.relays)
    return ClusterBoard()


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        output: AudioOutput | None = None,
        config_path: Path | None = None,
    ):
        self.config = config
        self.device_id = config.device_id
        config.data_path.mkdir(parents=True, exist_ok=True)
        self._pinned = config.public_keys()
        self.state = AgentState(config.data_path / "state.json", config.zones)
        self._trusted = self._trusted_now()
        tls = config.tls_context()  # the station's CA, for HTTPS and MQTT alike
        self.outbox = Outbox(config.data_path / "outbox")
        self._plan_media: set[str] = set()
        self._prepared: dict[str, datetime] = {}  # sha256 → until when a prepare keeps it
        self.cache = MediaCache(
            config.data_path / "cache",
            config.controller_url,
            config.token,
            max_bytes=int(config.cache_max_mb * 2**20),
            protected=self._media_in_use,
            tls=tls,
        )
        self.output = output or make_output(config)
        hw = config.hardware
        self.cluster = Cluster(
            make_board(hw),
            self.device_id,
            self.report_event,
            config.data_path / "alarms.json",
            lead_s=hw.lead_s,
            hold_s=hw.hold_s,
            poll_s=hw.poll_s,
            thresholds=Thresholds(
                battery_low_v=hw.battery_low_v,
                over_temperature_c=hw.over_temperature_c,
                line_min_ma=hw.line_min_ma,
            ),
        )
        self.sources = sources = MediaSources(
            self.cache,
            config.ffmpeg,
            pcm_max_ms=round(config.pcm_cache_max_s * 1000),
            credentials=(config.device_id, config.token),
            live_buffer_s=config.live_buffer_ms / 1000,
            fm=(lambda on: self.cluster.listen_fm(on, fm_mhz))
            if (fm_mhz := hw.fm_fallback_mhz)
            else None,
        )
        self.clock_offset = OffsetReader(config.ntp_server, config.ntp_port, config.ntp_check_s)
        self.player = Player(
            self.device_id,
            self.output,
            sources,
            self.report_event,
            cluster=self.cluster,
            software_volume=self._software_volume,
            on_over=self.state.play_over,
            clock_offset_ms=lambda: self.clock_offset.offset_ms,
        )
        self.link = MqttLink(
            config.mqtt,
            self.device_id,
            self.state.zones,
            self.outbox,
            self.on_command,
            self._birth,
            tls=tls if config.mqtt.tls else None,
        )
        # signed updates; ``loalang-agent run`` sets ``updates.restart`` (exec into a release)
        self.updates = Updater(
            config.data_path,
            Releases(config.releases_path),
            config_path,
            _version(),
            self.cache.fetch_file,
            self.report_event,
            self.player.quiet,
            self.device_id,
        )
        self._command_lock = threading.Lock()
        self.duplicates_ignored = 0
        self.counters = AgentCounters()  # commands, plays (the link counts its own)
        self._plan_path = config.data_path / "plan.json"
        self._plan_topic = topics.device_topic(self.device_id, "plan")
        self._planned: set[str] = set()
        self._stop = threading.Event()
        self._health_thread = threading.Thread(target=self._health_loop, name="health", daemon=True)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        stored = read_json(self._plan_path, None)
        if stored:  # play from the plan on disk even if the link never comes up
            try:
                self._apply_plan(convert(stored["plan"], PlanCommand))
            except (ValueError, KeyError, TypeError):
                log.exception("stored plan unreadable; waiting for a new one")
        self._restore_pending()
        self.cluster.start()
        self.cluster.set_volume(self.state.volume)
        self.link.start()
        self._health_thread.start()
        self.updates.started(
            online=lambda: self.link.connected.is_set() and self.link.controller_online.is_set()
        )
        log.info("agent %s started (zones: %s)", self.device_id, ", ".join(self.state.zones))

    def stop(self) -> None:
        self._stop.set()
        self.updates.close()
        self.player.shutdown()
        self.cluster.stop()
        self.link.stop()
        self.cache.close()

    def kill(self) -> None:
        """Vanish without a goodbye, as on a power cut (tests)."""
        self._stop.set()
        self.player.shutdown()
        self.cluster.stop(power_off=False)
        self.link.kill()

    def _restore_pending(self) -> None:
        """Plays accepted before a restart: schedule those still ahead; one that had begun is
        not played twice (reported instead)."""
        now = utcnow()
        for play_id, saved in list(self.state.pending.items()):
            try:
                play = convert(saved["cmd"], PlayCommand)
                not_after = datetime.fromisoformat(saved["not_after"])
            except (KeyError, TypeError, ValueError):
                self.state.play_over(play_id)
                continue
            if play.start_at > now:
                self.player.schedule(play, not_after)
                continue
            if not_after > now:
                self.report_event(
                    PlaybackFailedEvent(
                        event_id=uuid.uuid4().hex,
                        device_id=self.device_id,
                        ts=now,
                        play_id=play_id,
                        broadcast_id=play.broadcast_id,
                        reason="agent_restarted",
                        detail="the agent restarted at or after the start time",
                    )
                )
            self.state.play_over(play_id)

    def _media_in_use(self) -> set[str]:
        """Media the cache must keep: the current plan's, that of plays under way, and what
        a prepare asked for until its command expires."""
        now = utcnow()
        prepared = {sha for sha, until in list(self._prepared.items()) if until > now}
        return self._plan_media | self.player.media_in_use() | prepared

    def _prepare(self, cmd: PrepareCommand, not_after: datetime) -> None:
        """Fetch a play's media ahead (in the background) and report it ready: an emergency
        waiting for confirmation is then one small command away from playing."""
        self._prepared[cmd.media.sha256] = not_after

        def fetch() -> None:
            try:  # fetched and, if short, decoded: the play then starts at once
                prepared = self.sources.prefetch(cmd.media, not_after.timestamp())
            except Exception as exc:  # noqa: BLE001 - never fatal: the play will try again
                log.warning("prepare %s failed: %s", cmd.play_id, exc)
                return
            self.report_event(
                MediaReadyEvent(
                    event_id=uuid.uuid4().hex,
                    device_id=self.device_id,
                    ts=utcnow(),
                    play_id=cmd.play_id,
                    sha256=cmd.media.sha256,
                    fetched_bytes=prepared.fetched_bytes or 0,
                )
            )

        threading.Thread(target=fetch, name=f"prepare-{cmd.play_id[:12]}", daemon=True).start()

    def trusted_keys(self) -> dict[str, Ed25519PublicKey]:
        """The keys pinned in the config and those learnt since, less the retired ones."""
        return self._trusted

    def _trusted_now(self) -> dict[str, Ed25519PublicKey]:
        """Made when the agent starts and when a key is trusted or retired, not per command."""
        keys = dict(self._pinned)
        for kid, text in self.state.keys.items():
            keys.setdefault(kid, load_public_key(text))
        return {kid: key for kid, key in keys.items() if kid not in self.state.retired_keys}

    def _software_volume(self) -> int:
        """The device volume applied to the samples, unless the board sets it in hardware."""
        return 100 if self.cluster.board.hardware_volume else self.state.volume

    def _birth(self) -> StatusMessage:
        return StatusMessage(
            device_id=self.device_id,
            state=DeviceState.online,
            ts=utcnow(),
            version=_version(),
            capabilities=[
                *CAPABILITIES,
                f"output:{self.output.name}",
                f"hardware:{self.cluster.board.name}",
            ],
            zones=self.state.zones,
        )

    # --- reporting ------------------------------------------------------------------------

    def report_event(self, event: Any) -> None:
        """Every report goes to the on-disk outbox first; the link flushes it with QoS 1."""
        if isinstance(event, PlaybackStartedEvent):
            self.counters.plays_started += 1
        elif isinstance(event, PlaybackFinishedEvent):
            self.counters.plays_finished += 1
        self._report("event", encode(event), event.event_id)

    def _report(
        self, kind: DeviceTopicKind, payload: bytes, key: str, droppable: bool = False
    ) -> None:
        """Into the outbox; on a full disk straight to the broker from memory (lost in a
        power cut, but told now rather than never)."""
        topic = topics.device_topic(self.device_id, kind)
        try:
            self.outbox.put(topic, payload, droppable=droppable, key=key)
        except OSError as exc:
            log.error("outbox not writable (%s): %s sent from memory", exc, kind)
            self.link.publish_now(topic, payload)

    def _ack(self, cmd_id: str, play_id: str | None, refused: str | None = None) -> None:
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
        self._report("ack", encode(ack), ack.event_id)

    def _counted(self) -> AgentCounters:
        return msgspec.structs.replace(
            self.counters, link_losses=self.link.losses, reports_resent=self.link.resent
        )

    def _health_loop(self) -> None:
        while not self._stop.is_set():
            try:
                offset = self.clock_offset.refresh()
                report = read_health(
                    self.device_id,
                    _version(),
                    self.config.data_path,
                    self.cache.usage(),
                    len(self.outbox),
                    self.duplicates_ignored,
                    volume=self.state.volume,
                    hardware=self.cluster.readings(),
                    last_line_check=self.cluster.last_line_check,
                    network=read_network(),
                    clock_offset_ms=offset.offset_ms if offset else None,
                    clock_source=offset.source if offset else None,
                    counters=self._counted(),
                )
                self.cluster.check_disk(report.disk_free_mb, self.config.disk_low_mb)
                self._report("telemetry", encode(report), report.event_id, droppable=True)
            except Exception:
                log.exception("health report failed")
            self._stop.wait(self.config.health_interval_s)

    # --- commands -------------------------------------------------------------------------

    def on_command(self, topic: str, raw: bytes) -> None:
        """Verify, persist the sequence number, acknowledge, then act."""
        if topic == self._plan_topic:
            self.on_plan(raw)
            return
        with self._command_lock:  # one at a time: sequence checks must not interleave
            now = utcnow()
            try:
                command = verify(
                    raw,
                    keys=self._trusted,
                    device_id=self.device_id,
                    zones=set(self.state.zones),
                    last_seq=self.state.last_seq,
                    last_cmd=self.state.last_cmd,
                    now=now,
                )
            except Rejected as rej:
                if rej.reason == "duplicate":
                    # The last accepted command again: the broker redelivering an unacknowledged
                    # QoS 1 message after a reconnect. Harmless (already acted on); counted.
                    self.duplicates_ignored += 1
                    log.info("duplicate delivery of %s ignored", rej.cmd_id)
                    return
                body = rej.payload.get("body") if isinstance(rej.payload.get("body"), dict) else {}
                play_id = body.get("play_id") if isinstance(body.get("play_id"), str) else None
                if rej.reason == "expired" and play_id in self.state.plays:
                    # a late copy of a play this device already handled (from its plan while
                    # the link was down, or before): the broker's backlog, nothing missed
                    log.info("expired copy of %s, already handled, ignored", play_id)
                    return
                log.warning("refused command on %s: %s", topic, rej)
                self.report_event(
                    SecurityEvent(
                        event_id=uuid.uuid4().hex,
                        device_id=self.device_id,
                        ts=now,
                        reason=rej.reason,
                        detail=rej.detail[:300],
                        topic=topic[:200],
                        cmd_id=rej.cmd_id,
                        play_id=play_id,
                    )
                )
                return
            body = command.body
            play = body if isinstance(body, PlayCommand) else None
            try:
                new_play = self.state.accept(
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
                self._ack(
                    command.cmd_id,
                    getattr(body, "play_id", None),
                    refused="disk_full" if exc.errno == errno.ENOSPC else "storage_error",
                )
                return
            prepare = body if isinstance(body, PrepareCommand) else None
            # a prepare's ack names no play: the play's own ack is what delivers it
            self._ack(command.cmd_id, None if prepare else getattr(body, "play_id", None))
            if prepare is not None:
                self._prepare(prepare, command.not_after)
            elif play is not None:
                # once per play id: already scheduled here, or handled before a restart
                if not self.player.has(play.play_id) and (new_play or play.start_at > now):
                    self.player.schedule(play, command.not_after)
                else:
                    log.info("play %s already handled", play.play_id)
            elif isinstance(body, CancelCommand):
                if body.ended:
                    self.player.end(body.play_id)
                else:
                    self.player.cancel(body.play_id)
            elif isinstance(body, StopCommand):
                self.player.stop_now(f"stop: {body.reason}" if body.reason else "stop")
            elif isinstance(body, SetVolumeCommand):
                self.state.set_volume(body.level)
                self.cluster.set_volume(body.level)
            elif isinstance(body, SetZonesCommand):
                self.state.set_zones(list(body.zones))
                self.link.set_zones(list(body.zones))
                self.link.publish_status(self._birth())
            elif isinstance(body, TrustKeyCommand):
                self.state.trust_key(body.kid, body.key)
                self._trusted = self._trusted_now()
                log.info("signing key %s trusted (announced by %s)", body.kid, command.kid)
            elif isinstance(body, RetireKeyCommand):
                self.state.retire_key(body.kid)
                self._trusted = self._trusted_now()
                log.warning("signing key %s retired (by %s)", body.kid, command.kid)
            elif isinstance(body, UpdateCommand):
                self.updates.handle(body, command.cmd_id)

    # --- plans ----------------------------------------------------------------------------

    def on_plan(self, raw: bytes) -> None:
        """A signed plan (retained: it arrives again on every reconnect)."""
        with self._command_lock:
            now = utcnow()
            stored = read_json(self._plan_path, {}) or {}
            try:
                command = verify(
                    raw,
                    keys=self._trusted,
                    device_id=self.device_id,
                    zones=set(self.state.zones),
                    last_seq={f"device:{self.device_id}": stored.get("seq", 0)},
                    last_cmd={f"device:{self.device_id}": stored.get("cmd_id", "")},
                    now=now,
                    plan_topic=True,
                )
            except Rejected as rej:
                if rej.reason == "duplicate":
                    return  # the plan we already hold, redelivered as retained
                if rej.reason == "replayed":
                    # An older plan the station signed: what a broker restored from its last
                    # snapshot holds after a crash. Refused like any replay, but not an attack
                    # to report; the controller re-asserts the current one.
                    log.info(
                        "older plan ignored (%s); keeping sequence %s",
                        rej.detail,
                        stored.get("seq"),
                    )
                    return
                log.warning("refused plan: %s", rej)
                self.report_event(
                    SecurityEvent(
                        event_id=uuid.uuid4().hex,
                        device_id=self.device_id,
                        ts=now,
                        reason=rej.reason,
                        detail=rej.detail[:300],
                        topic=self._plan_topic,
                        cmd_id=rej.cmd_id,
                    )
                )
                return
            plan = command.body
            if not isinstance(plan, PlanCommand):
                return
            try:
                atomic_write(
                    self._plan_path,
                    json.dumps(
                        {"seq": command.seq, "cmd_id": command.cmd_id, "plan": to_builtins(plan)}
                    ).encode(),
                )
                self._apply_plan(plan)
            except OSError as exc:  # a full disk: the plan on disk stays the one played
                log.error("plan %s not kept: %s", plan.version, exc)

    def _apply_plan(self, plan: PlanCommand) -> None:
        """Schedule what the plan holds (each play once), drop what it no longer holds."""
        now = utcnow()
        late = timedelta(seconds=plan.max_late_s)
        live = [e for e in plan.entries if e.start_at + late >= now]
        wanted = {e.play_id for e in live}
        for gone in self._planned - wanted:
            self.player.cancel_pending(gone)
        self._planned = wanted
        self._plan_media = {e.media.sha256 for e in plan.entries if e.media is not None} | {
            e.stream.fallback_media.sha256
            for e in plan.entries
            if e.stream is not None and e.stream.fallback_media is not None
        }
        new = self.state.claim_many([(e.play_id, e.start_at) for e in live], now)
        for entry in live:
            if self.player.has(entry.play_id):
                continue
            if entry.play_id not in new and entry.start_at <= now:
                continue  # started before a restart: never twice
            self.player.schedule(
                PlayCommand(
                    play_id=entry.play_id,
                    broadcast_id=entry.play_id,
                    title=entry.title,
                    start_at=entry.start_at,
                    priority=entry.priority,
                    volume=entry.volume,
                    media=entry.media,
                    stream=entry.stream,
                ),
                entry.start_at + late,
            )
        log.info("plan %s: %d plays ahead", plan.version, len(live))
