"""Wires the agent's parts together — link, commands, plan, state, cache, player, reports,
health — and starts and stops them. What each does lives in its own module."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from protocol import topics
from protocol.keys import PublicKey
from protocol.messages import (
    AgentCounters,
    DeviceState,
    MediaReadyEvent,
    PlaybackFailedEvent,
    PlayCommand,
    PrepareCommand,
    StatusMessage,
    convert,
    encode,
    utcnow,
)

from .alarms import Thresholds
from .cache import MediaCache
from .cluster import Cluster
from .config import AgentConfig, HardwareConfig, MicrophoneConfig
from .dispatch import CommandDispatcher
from .hardware.base import ClusterBoard
from .health import read_health
from .hearing.capture import Microphone
from .hearing.ear import Ear
from .household import Household
from .link import MqttLink
from .local_control import LocalControl
from .modem import SmsModem
from .network import read_network
from .outbox import Outbox
from .outputs.base import AudioOutput
from .pinned import PinnedMessages
from .plans import PlanKeeper
from .player import Player
from .reports import Reporter
from .sms_orders import SmsOrders
from .sources import MediaSources
from .state import AgentState
from .timesync import OffsetReader
from .trust import TrustedKeys
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
    "pin",
]


def _version() -> str:
    from protocol import __version__

    return __version__


def make_output(config: AgentConfig) -> AudioOutput:
    if config.output.backend == "file":
        from .outputs.file import FileOutput

        return FileOutput(config.output_dir)
    from .outputs.alsa import AlsaOutput

    return AlsaOutput(config.output.device)


def make_microphone(config: MicrophoneConfig) -> Microphone | None:
    if config.backend == "alsa":
        from .hearing.capture import AlsaMicrophone

        return AlsaMicrophone(config.device)
    if config.backend == "fifo" and config.path:
        from .hearing.capture import FifoMicrophone

        return FifoMicrophone(Path(config.path))
    return None


def make_board(config: HardwareConfig) -> ClusterBoard:
    if config.backend == "mcu":
        from .hardware.mcu import McuBoard

        return McuBoard(config.port, config.baudrate)
    if config.backend == "usb_relay":
        from .hardware.relay import RelayBoard

        return RelayBoard(config.port, config.relays)
    return ClusterBoard()


def _local_control(household: Household | None, port: int) -> LocalControl | None:
    """The receiver's buttons' control; a taken port costs the buttons, never the plays."""
    if household is None:
        return None
    try:
        return LocalControl(household, port)
    except OSError as exc:
        log.error("local control: port %d unavailable (%s): the buttons cannot reach it", port, exc)
        return None


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
        self.state = AgentState(config.data_path / "state.json", config.zones)
        self.keys = TrustedKeys(config.public_keys(), self.state)
        tls = config.tls_context()  # the station's CA, for HTTPS and MQTT alike
        self.outbox = Outbox(config.data_path / "outbox")
        self.reporter = Reporter(self.device_id, self.outbox)
        self._prepared: dict[str, datetime] = {}  # sha256 → until when a prepare keeps it
        self._health_now = threading.Event()  # a health report now, not at the next interval
        self.cache = MediaCache(
            config.data_path / "cache",
            config.controller_url,
            config.token,
            max_bytes=int(config.cache_max_mb * 2**20),
            protected=self._media_in_use,
            tls=tls,
        )
        # the station's pinned emergency messages: on disk, never evicted
        self.pinned = PinnedMessages(
            config.data_path / "pinned.json", self.cache, on_held=lambda _: self._health_now.set()
        )
        self.output = output or make_output(config)
        # the microphone that hears the horns: every play's output is listened to
        microphone = make_microphone(config.microphone)
        self.ear = (
            Ear(self.device_id, microphone, self.report_event, config.data_path / "hearing.json")
            if microphone is not None
            else None
        )
        self.played_output = self.ear.listening(self.output) if self.ear else self.output
        hw = config.hardware
        self.cluster = Cluster(
            make_board(hw),
            self.device_id,
            self.report_event,
            config.data_path / "alarms.json",
            lead_s=hw.lead_s,
            hold_s=hw.hold_s,
            poll_s=hw.poll_s,
            channel_gap_s=hw.channel_gap_s,
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
            tls=tls,
            fm=(lambda on: self.cluster.listen_fm(on, fm_mhz))
            if (fm_mhz := hw.fm_fallback_mhz)
            else None,
            tuner=self.cluster.listen_fm,
        )
        # a home receiver: its household's knob and switch, and the buttons' local control
        rc = config.receiver
        self.household = (
            Household(
                config.data_path / "household.json",
                self.device_id,
                self.report_event,
                indoor_max=rc.indoor_max,
                volume=rc.volume,
            )
            if config.kind == "receiver"
            else None
        )
        self.local_control = _local_control(self.household, rc.control_port)
        self.clock_offset = OffsetReader(config.ntp_server, config.ntp_port, config.ntp_check_s)
        self.player = Player(
            self.device_id,
            self.played_output,
            sources,
            self.report_event,
            cluster=self.cluster,
            software_volume=self._software_volume,
            household=self.household,
            on_over=self.state.play_over,
            clock_offset_ms=lambda: self.clock_offset.offset_ms,
            clock_correction=self.clock_offset.correction,
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
        one_at_a_time = threading.Lock()  # sequence checks of commands and plans
        self.plans = PlanKeeper(
            self.device_id,
            config.data_path / "plan.json",
            topics.device_topic(self.device_id, "plan"),
            self.state,
            self.keys,
            self.player,
            self.reporter,
            one_at_a_time,
        )
        self.commands = CommandDispatcher(
            self.device_id,
            self.state,
            self.keys,
            self.reporter,
            self.player,
            self.cluster,
            self.updates,
            self._prepare,
            one_at_a_time,
        )
        self.link = MqttLink(
            config.mqtt,
            self.device_id,
            self.state.zones,
            self.outbox,
            self._on_message,
            self._birth,
            tls=tls if config.mqtt.tls else None,
        )
        self.reporter.link = self.commands.link = self.link
        self.commands.on_zones = lambda: self.link.publish_status(self._birth())
        self.commands.on_pin = self.pinned.pin
        self.commands.on_calibrate = self.calibrate_hearing
        # SMS orders, when the data link is gone (the modem is optional)
        self.sms = SmsOrders(
            self.device_id,
            self.state,
            self.keys,
            self.pinned,
            self.player,
            self.report_event,
            fm_tuner=self.cluster.board.fm_tuner,
        )
        self.modem = (
            SmsModem(
                config.modem.port,
                config.modem.baudrate,
                self.sms.on_sms,
                self.cluster.modem_fault,
                poll_s=config.modem.poll_s,
            )
            if config.modem.port
            else None
        )
        self._stop = threading.Event()
        self._health_thread = threading.Thread(target=self._health_loop, name="health", daemon=True)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self.plans.load()  # play from the plan on disk even if the link never comes up
        self._restore_pending()
        self.cluster.start()
        self.cluster.set_volume(self.state.volume)
        self.link.start()
        self.pinned.start()
        if self.modem is not None:
            self.modem.start()
        self._health_thread.start()
        if self.local_control is not None and self.household is not None:
            self.local_control.start()
            # where its buttons find it (the port may be chosen by the system: control_port 0)
            (self.config.data_path / "local-control.port").write_text(
                f"{self.local_control.port}\n"
            )
            self.report_event(self.household.controls())  # the station learns where it stands
        if self.ear is not None and self.ear.reference_db is None:
            self.calibrate_hearing(attempts=3)  # at enrolment: the cluster's usual level
        self.updates.started(
            online=lambda: self.link.connected.is_set() and self.link.controller_online.is_set()
        )
        log.info("agent %s started (zones: %s)", self.device_id, ", ".join(self.state.zones))

    def stop(self) -> None:
        self._stop.set()
        self._health_now.set()
        if self.modem is not None:
            self.modem.stop()
        self.pinned.stop()
        if self.local_control is not None:
            self.local_control.stop()
        self.updates.close()
        self.player.shutdown()
        self.cluster.stop()
        self.link.stop()
        self.cache.close()

    def kill(self) -> None:
        """Vanish without a goodbye, as on a power cut (tests)."""
        self._stop.set()
        self._health_now.set()
        if self.modem is not None:
            self.modem.stop()
        self.pinned.stop()
        if self.local_control is not None:
            self.local_control.stop()
        self.player.shutdown()
        self.cluster.stop(power_off=False)
        self.link.kill()

    def calibrate_hearing(self, volume: int | None = None, attempts: int = 1) -> None:
        """The calibration chime through the amplifiers, when nothing plays (no microphone:
        nothing to do); at enrolment tried again while it is not heard."""
        if self.ear is None:
            return
        from .hearing.ear import ListeningOutput

        assert isinstance(self.played_output, ListeningOutput)
        self.ear.calibrate(
            self.played_output,
            volume or self.config.microphone.calibration_volume,
            self.player.quiet,
            prepare=self._amplifiers_on,
            done=self.cluster.release,
            attempts=attempts,
            retry_s=self.config.microphone.calibration_retry_s,
        )

    def _amplifiers_on(self, play_id: str) -> None:
        self.cluster.warm_up(play_id)
        time.sleep(self.cluster.lead_s)

    def _on_message(self, topic: str, raw: bytes) -> None:
        """The link's messages: the plan to the plan keeper, commands to the dispatcher."""
        if topic == self.plans.topic:
            self.plans.on_plan(raw)
        else:
            self.commands.on_command(topic, raw)

    @property
    def duplicates_ignored(self) -> int:
        return self.commands.duplicates_ignored

    def trusted_keys(self) -> dict[str, PublicKey]:
        """The keys pinned in the config and those learnt since, less the retired ones."""
        return self.keys()

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
        return self.plans.media | self.player.media_in_use() | prepared | self.pinned.media()

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
                *([f"hearing:{self.ear.microphone.name}"] if self.ear else []),
                *(["receiver"] if self.household else []),
            ],
            zones=self.state.zones,
        )

    # --- reporting ------------------------------------------------------------------------

    def report_event(self, event: Any) -> None:
        """Every report goes to the on-disk outbox first; the link flushes it with QoS 1."""
        self.reporter.event(event)

    def _counted(self) -> AgentCounters:
        return msgspec.structs.replace(
            self.reporter.counters, link_losses=self.link.losses, reports_resent=self.link.resent
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
                    pinned_version=self.pinned.held_version,
                    modem=self.modem.readings() if self.modem else None,
                )
                self.cluster.check_disk(report.disk_free_mb, self.config.disk_low_mb)
                self.reporter.put("telemetry", encode(report), report.event_id, droppable=True)
            except Exception:
                log.exception("health report failed")
            self._health_now.wait(self.config.health_interval_s)
            self._health_now.clear()
