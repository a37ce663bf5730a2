"""Everything the controller runs, wired once and held on ``app.state.services``.

The faces (``api/``, ``web/``, the CLI) reach the application's rules through the service
objects here; nothing else is shared between them.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from functools import partial

from sqlalchemy.orm import Session, sessionmaker

from protocol import topics
from protocol.messages import ReceiptMessage, encode

from .broker.denials import LogTail
from .broker.embedded import EmbeddedBroker
from .broker.managed import managed_broker
from .broker.mosquitto import MosquittoBroker
from .children import Supervisor
from .db.session import make_engine, make_sessionmaker, migrate
from .fleet import history as fleet_history
from .fleet.commands import CommandPath
from .fleet.gateway import MqttGateway, NotConnected
from .fleet.ingest import Ingest
from .fleet.retained import RetainedKeeper
from .identity import controller_id as _controller_id
from .identity import load_or_create_api_token
from .jobs import Jobs
from .keys import KeyRing, SigningKey
from .leadership import KeyLocks, Leadership
from .media.pipeline import EncodeSettings
from .media.store import MediaStore
from .media.tts.configured import configured_engines
from .metrics import Metrics, Readings
from .schedules.changes import ScheduleChanges
from .schedules.firing import TICK_S, ScheduleFiring
from .schedules.publishing import PlanPublisher
from .schedules.store import ScheduleStore
from .services.accounts import AccountService
from .services.alarms import AlarmService
from .services.archive import ArchiveService
from .services.archive_export import ArchiveExport
from .services.audit import AuditLog
from .services.broadcasting import (
    BroadcastQueries,
    BroadcastSender,
    BroadcastService,
    BroadcastTimes,
    HeldExpiry,
    StreamBroadcasts,
)
from .services.broker_access import BrokerAccess
from .services.broker_denials import BrokerDenials
from .services.cap import CapService
from .services.cap_watch import CapWatcher
from .services.devices import DeviceService
from .services.emergencies import EmergencyService
from .services.listeners import ListenerRecords
from .services.live import LiveUpdates
from .services.media import MediaService
from .services.media_jobs import MediaJobs
from .services.notices import Notices
from .services.onair import OnAirService
from .services.pinned import PinnedService
from .services.programme import ProgrammeService
from .services.public import PublicBulletins
from .services.relay_copies import TICK_S as RELAY_TICK_S
from .services.relay_copies import RelayCopies
from .services.relays import RelayService
from .services.repeats import RepeatService
from .services.reports import Reports
from .services.signing import SigningKeys
from .services.sms_orders import SmsOrderService
from .services.speech import SpeechService
from .services.station import StationService
from .services.updates import Updates
from .services.zones import ZoneService
from .settings import Settings, is_loopback
from .sms.senders import sms_channels
from .streams.timeline import RelayTimeline

EXPIRY_TICK_S = 10.0
"""How soon a bulletin held past its start is said to have expired."""

log = logging.getLogger(__name__)


class Services:
    def __init__(self, settings: Settings):
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(settings.resolved_database_url)
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        self.keys = KeyRing(settings.keys_dir)
        self.api_token = load_or_create_api_token(settings)
        self.broker_access = BrokerAccess(settings, self.sessions, self._reload_broker)
        # the broker's refusals, from its log: each device's security events
        self.denials = BrokerDenials(
            self.sessions, self.broker_access.reads_of, lambda: self.live.changed(["fleet"])
        )
        self.broker_log = (
            LogTail(settings.broker_log_file, self.denials.seen)
            if settings.broker_log_file
            else None
        )
        self.broker = managed_broker(settings, self.broker_access.enabled, self.denials.seen)
        self.jobs = Jobs()
        self.live = LiveUpdates()
        self.audit = AuditLog(self.sessions)
        self.controller_id = settings.controller_id or _controller_id(settings.data_dir)
        self._beat: fleet_history.ControllerBeat | None = None  # while it leads
        # one leader among the controllers of one database (PostgreSQL); SQLite: this one
        self.leadership = Leadership(
            self.engine,
            self.controller_id,
            on_elected=self._lead,
            on_deposed=self._follow,
            on_notice=self._on_notice,
            poll_s=settings.leader_poll_s,
        )
        self.locks = KeyLocks(self.engine)

        # the fleet: reports in, commands out, retained messages kept as written
        url = settings.resolved_database_url
        self.metrics = Metrics()
        self.ingest = Ingest(
            self.sessions,
            on_applied=self._fleet_changed,
            on_stored=self._send_receipts,
            process_url=url if settings.ingest_process and url.startswith("postgresql") else None,
            observe_lag=self.metrics.ingest_lag.observe,
        )
        self.gateway = MqttGateway(
            self.broker_access.login(),
            self._on_message,
            controller_id=self.controller_id,
            on_connected=self._on_connected,
            on_reports_connected=self._on_reports_connected,
            watch=(topics.ALL_PLANS, topics.CONTROLLER_STATUS),
            observe_publish=self.metrics.publish.observe,
        )
        self.commands = CommandPath(
            self.keys, self.sessions, self.gateway, settings.command_validity.seconds, self.locks
        )
        # schedules and plans
        self.schedules = ScheduleStore(self.sessions, settings.timezone)
        self.plans = PlanPublisher(
            self.sessions,
            self.commands,
            settings.timezone,
            settings.default_max_late_s,
            RelayTimeline.of(settings),
        )
        self.retained = RetainedKeeper(
            self.gateway,
            self.plans.retained_source(),
            (topics.CONTROLLER_STATUS, self.gateway.status_topic),
        )

        # the application's rules, for every face
        broadcasts_changed = lambda: self.live.changed(["broadcasts", "progress"])  # noqa: E731
        self.broadcast_times = BroadcastTimes(
            settings, self.sessions, lambda: list(self.schedules.current().quiet_hours)
        )
        self.sender = BroadcastSender(
            settings,
            self.sessions,
            self.commands,
            self.jobs,
            self.plans_changed,
            broadcasts_changed,
            announce=self._announce_broadcast,
        )
        self.broadcasts = BroadcastService(
            self.sessions,
            self.commands,
            self.broadcast_times,
            self.sender,
            self.audit,
            self.plans_changed,
            broadcasts_changed,
        )
        self.expiry = HeldExpiry(
            self.sessions, self.broadcast_times, self.audit, broadcasts_changed
        )
        self.streams = StreamBroadcasts(
            self.sessions, self.commands, self.broadcasts, self.audit, broadcasts_changed
        )
        self.broadcast_queries = BroadcastQueries(self.sessions, self.commands)
        self.firing = ScheduleFiring(
            self.sessions, self.broadcasts, settings.timezone, settings.prefetch_lead_s
        )
        self.devices = DeviceService(
            settings,
            self.sessions,
            self.keys,
            self.commands,
            self.audit,
            self.plans_changed,
            self.broker_access,
            empty_plan=self.plans.publish_empty,
        )
        self.signing = SigningKeys(
            self.keys, self.sessions, self.commands, self.audit, self._resign_plans
        )
        self.zones = ZoneService(self.sessions, self.audit)
        self.station = StationService(self.sessions, self.audit)
        self.reports = Reports(self.sessions, settings)
        self.notices = Notices(self.sessions, settings)
        self.updates = Updates(
            settings.data_dir / "releases",
            self.sessions,
            self.commands,
            self.audit,
            lambda: self.live.changed(["fleet"]),
        )
        self.alarms = AlarmService(self.sessions, self.audit, lambda: self.live.changed(["fleet"]))
        self.accounts = AccountService(
            self.sessions,
            self.audit,
            self.api_token,
            settings.login_lockout_failures,
            settings.login_lockout_minutes,
            settings.session_hours,
            settings.login_slowdown_max_s,
        )
        self.media = MediaService(
            self.sessions,
            MediaStore(settings.media_dir),
            EncodeSettings.of(settings),
            settings.max_upload_bytes,
            self.audit,
        )
        self.public = PublicBulletins(self.sessions, self.media.store)
        # the channel's recordings (the channel process writes them: python -m controller.channel)
        self.archive = ArchiveService(
            settings, self.sessions, self.station, self.audit, self.alarms
        )
        self.archive_export = ArchiveExport(
            self.archive,
            self.sessions,
            self.keys,
            self.media.store.path_for,
            settings.station_name,
            self.audit,
        )
        self.programme = ProgrammeService(self.sessions, self.schedules, settings.timezone)
        self.speech = SpeechService(
            self.sessions,
            configured_engines(settings),
            self.media,
            self.audit,
            settings.tts_default_voice,
        )
        self.broadcasts.routing = self.speech.routing  # each village its language versions
        self.schedule_changes = ScheduleChanges(
            self.sessions, self.schedules, self.audit, self.plans_changed, self.speech
        )
        self.repeats = RepeatService(
            self.broadcasts, self.broadcast_queries, self.speech, self.media, settings.timezone
        )
        self.pinned = PinnedService(self.sessions, self.commands, self.audit)
        self.station.listeners.append(self.pinned.station_changed)
        self.emergencies = EmergencyService(
            self.sessions,
            self.broadcasts,
            self.broadcast_queries,
            self.repeats,
            self.speech,
            self.media,
            settings.ffmpeg,
        )
        self.cap = CapService(
            settings,
            self.sessions,
            self.broadcasts,
            self.repeats,
            self.speech,
            self.media,
            self.audit,
            self.pinned,
        )
        self.cap_watch = CapWatcher(self.cap, settings.cap_feeds)
        self.sms_orders = SmsOrderService(
            self.sessions,
            self.commands,
            sms_channels(settings),
            self.pinned,
            self.audit,
            settings.sms_valid_min,
            lambda: self.live.changed(["fleet"]),
        )
        self.relays = RelayService(self.sessions, self.streams)
        self.onair = OnAirService(
            settings, self.sessions, self.streams, self.accounts, self.jobs, self.audit
        )
        self.listeners = self.onair.listeners = ListenerRecords(self.sessions, self.accounts)
        # relays played in step: the station's copy of each (None: each plays the original)
        self.relay_copies = (
            RelayCopies(settings, self.sessions, self.jobs, self.onair.target, self.commands)
            if RelayTimeline.of(settings)
            else None
        )
        # the processes this controller runs, restarted when they die
        self.children = Supervisor(
            self.alarms.service_failing,
            self.alarms.service_recovered,
            max_delay_s=settings.child_restart_max_s,
            stable_s=settings.child_stable_s,
        )
        if isinstance(self.broker, MosquittoBroker):
            self.children.add("mosquitto", self.broker, prepare=self.broker_access.sync)
        self.metrics.read(
            Readings(
                controller_id=self.controller_id,
                sessions=self.sessions,
                is_leader=lambda: self.leadership.is_leader,
                broker_connected=self.gateway.connected.is_set,
                children=self.children.statuses,
                reports=lambda: (
                    self.ingest.processed,
                    self.ingest.rejected - self.ingest.failed,
                    self.ingest.failed,
                ),
                ingest_backlog=lambda: self.ingest.backlog,
                broker_denials=lambda: self.denials.seen_total,
            )
        )
        icecast = self.onair.stream_server()
        if icecast is not None:
            self.children.add("icecast", icecast, prepare=self.listeners.close_open, required=False)
        self.media_jobs = MediaJobs(
            self.sessions, settings.media_workers, self.media.get, self.controller_id
        )
        self._refresh_lock = threading.Lock()
        self._refresh_wanted = False
        self._refresh_running = False

    def _on_message(self, topic: str, payload: bytes) -> None:
        """MQTT thread: the controller's own retained topics to the keeper, reports to ingest."""
        if self.retained.watches(topic):
            self.retained.observe(topic, payload)
        else:
            self.ingest.submit(topic, payload)

    @property
    def key(self) -> SigningKey:
        """The key that signs commands now."""
        return self.keys.active

    RECEIPTS_AT_ONCE = 100
    """Receipts in flight at once: paho scans every message in flight on each PUBACK, so a
    thousand at once cost a million steps of this interpreter."""

    def _send_receipts(self, stored: dict[str, list[str]]) -> None:
        """Ingest's receipt thread: tell each device which of its reports are stored (QoS 1;
        a receipt lost is a report sent again, stored once)."""
        last = None
        for k, (device_id, ids) in enumerate(stored.items()):
            if last is not None and k % self.RECEIPTS_AT_ONCE == 0:
                last.wait_for_publish(5)  # the previous hundred acknowledged, or given up
            try:
                last = self.gateway.publish(
                    topics.device_topic(device_id, "receipt"),
                    encode(ReceiptMessage(ids=ids)),
                    wait=None,
                )
            except NotConnected:
                return  # the agents send them again and get their receipt then

    def _on_connected(self) -> None:
        """MQTT thread, after every (re)connect of the command session: send what waited for
        it — off the network thread."""
        self.jobs.run_soon("commands-flush", self.commands.flush_pending)

    def _on_reports_connected(self) -> None:
        """MQTT thread, after every (re)connect of the report session: the broker sends its
        retained copies again; re-assert what differs."""
        self.retained.connected()

    def _reload_broker(self) -> None:
        if isinstance(self.broker, MosquittoBroker):
            self.broker.reload()

    def start(self) -> None:
        """Start everything, or nothing: a start that fails part way stops what it had
        started (a broker, Icecast) before the error goes on."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        s = self.settings
        if s.broker == "external" and not s.mqtt_ca_file and not is_loopback(s.mqtt_host):
            log.warning(
                "MQTT to %s without TLS: device credentials and reports cross the "
                "network in clear text; set mqtt_ca_file (docs/operations.md)",
                s.mqtt_host,
            )
        migrate(self.engine)
        self.media_jobs.recover()
        self.broker_access.sync()  # the broker's log-ins before it (or we) start
        if isinstance(self.broker, EmbeddedBroker):
            self.broker.start()  # in this process: nothing to supervise
        if self.onair.stream_server() is not None:  # a new Icecast holds no listener yet
            self.listeners.close_open()
        self.children.start()  # the broker and Icecast we run, kept running
        if self.broker_log is not None:
            self.broker_log.start()
        self.ingest.start()
        self.retained.start()
        self.jobs.start()
        self.gateway.start(reports=False)  # reports: the leader's (``_lead``)
        if not self.gateway.wait_connected(10):
            log.warning(
                "MQTT broker %s:%s not reachable yet; will keep trying",
                self.settings.mqtt_host,
                self.settings.mqtt_port,
            )
        self.leadership.start()  # SQLite: leads at once; PostgreSQL: when elected

    LEADER_JOBS = (
        "commands-retry",
        "plans",
        "firing",
        "fleet-sample",
        "telemetry-prune",
        "offline-alarms",
        "notices",
        "updates",
        "broker-denials",
        "relay-copies",
        "controller-beat",
        "held-expiry",
        "archive-disk",
        "archive-prune",
    )
    """What runs on the leading controller only (and ``cap-watch:*``)."""

    def _prune_telemetry(self) -> None:
        """Hourly: health readings thinned past a few days, deleted past a month."""
        s = self.settings
        fleet_history.prune_telemetry(self.sessions, timedelta(days=s.telemetry_keep_days))
        self.plans.prune_scheduled(timedelta(days=s.telemetry_keep_days))
        fleet_history.downsample_telemetry(self.sessions, timedelta(days=s.telemetry_full_days))

    def _lead(self) -> None:
        """Elected (election thread): take reports, rebuild jobs, run the periodic work."""
        s = self.settings
        self.gateway.start_reports()
        self.sender.recover()
        self._beat = fleet_history.ControllerBeat(self.sessions, self.controller_id)
        self._beat.start()
        self.jobs.every(fleet_history.BEAT_S, "controller-beat", self._beat.beat)
        self.jobs.every(s.command_retry_s, "commands-retry", self.commands.flush_pending)
        self.jobs.every(s.plan_refresh_s, "plans", self.plans.publish_changed)
        self.jobs.every(TICK_S, "firing", self.firing.tick)
        self.jobs.every(EXPIRY_TICK_S, "held-expiry", self.expiry.tick)
        self.jobs.every(
            s.fleet_sample_s, "fleet-sample", partial(fleet_history.record, self.sessions)
        )
        self.jobs.every(3600, "telemetry-prune", self._prune_telemetry)
        self.jobs.every(
            min(60.0, s.offline_alarm_min * 30),
            "offline-alarms",
            lambda: self.alarms.check_offline(s.offline_alarm_min),
        )
        self.jobs.every(s.notice_every_s, "notices", self.notices.tick)
        self.jobs.every(s.rollout_every_s, "updates", self.updates.tick)
        self.jobs.every(10.0, "broker-denials", self.denials.flush)
        self.jobs.every(30.0, "pinned", lambda: self.pinned.tick(s.pinned_alarm_after_min))
        self.jobs.every(60.0, "archive-disk", self.archive.check_disk)
        self.jobs.every(3600.0, "archive-prune", self.archive.prune)
        if (sms := self.sms_orders).channels.available:
            self.jobs.every(2.0, "sms-fallback", lambda: sms.fallback_tick(s.sms_fallback_after_s))
            self.jobs.every(2.0, "sms-resend", lambda: sms.resend_tick(s.sms_resend_after_s))
        if self.relay_copies is not None:
            self.jobs.every(RELAY_TICK_S, "relay-copies", self.relay_copies.tick)
        for name, feed in self.cap_watch.watched().items():
            poll = partial(self.cap_watch.poll, name)
            self.jobs.every(feed.poll_s, f"cap-watch:{name}", poll)
            self.jobs.run_soon(f"cap-watch-first:{name}", poll)

    def _follow(self) -> None:
        """Lost the lead (the database connection broke): stop what only the leader runs."""
        for job_id in self.LEADER_JOBS:
            self.jobs.cancel(job_id)
        self._beat = None  # (its last beat stands: the lead was lost then, or soon after)
        for name in self.cap_watch.watched():
            self.jobs.cancel(f"cap-watch:{name}")
        self.gateway.stop_reports()

    def _on_notice(self, kind: str, payload: str) -> None:
        """A notice from another controller (election thread)."""
        if kind == "live":
            self.live.changed(payload.split(","))
        elif not self.leadership.is_leader:
            return
        elif kind == "plans":
            self.plans_changed()
        elif kind == "broadcast":
            self.sender.schedule_jobs(payload)
        elif kind == "resign":
            self._resign_plans()

    def _fleet_changed(self, kinds: list[str]) -> None:
        """Ingest applied reports: this controller's open pages, and the other controllers'."""
        self.live.changed(kinds)
        if self.leadership.shared:
            self.leadership.notify("live", ",".join(sorted(set(kinds))))

    def _announce_broadcast(self, broadcast_id: str) -> None:
        """Released here: the leader schedules it too (it sends if this controller dies)."""
        if not self.leadership.is_leader:
            self.leadership.notify("broadcast", broadcast_id)

    def _resign_plans(self) -> None:
        """A key was promoted: every plan signed again, by the leader."""
        if not self.leadership.is_leader:
            self.leadership.notify("resign")
            return
        self.jobs.run_soon("plans-resigned", lambda: self.plans.publish_changed(every=True))

    def plans_changed(self) -> None:
        """Schedules, devices, zones or one-offs changed: republish plans and fire what is
        due, soon (on the leader: a follower tells it). Changes during a refresh make it run
        once more: none is skipped."""
        if not self.leadership.is_leader:
            self.leadership.notify("plans")
            return
        with self._refresh_lock:
            self._refresh_wanted = True
            if self._refresh_running:
                return
            self._refresh_running = True
        self.jobs.run_soon("plans-now", self._refresh)

    def _refresh(self) -> None:
        """Until no change is left: publish plans, fire what is due. A change arriving
        meanwhile is taken by this same run (scheduling another run from inside this one was
        skipped by the scheduler while this one still ran, and no plan was refreshed again
        until a restart: 1,000 devices registered in 22 s left one without a plan)."""
        while True:
            with self._refresh_lock:
                if not self._refresh_wanted:
                    self._refresh_running = False
                    return
                self._refresh_wanted = False
            try:
                self.plans.publish_changed()
                self.firing.tick()
                self.live.changed(["broadcasts"])
            except Exception:  # the periodic refresh tries again (plan_refresh_s)
                log.exception("plan refresh failed")
                with self._refresh_lock:
                    self._refresh_running = False
                return

    def stop(self) -> None:
        """Stop every part, each whatever became of the others (after a failed start some
        never ran)."""
        last_beat = [self._beat.beat] if self._beat is not None else []  # its run ends now
        steps = [
            *last_beat,
            self.leadership.stop,
            self.onair.stop,
            *([self.relay_copies.stop] if self.relay_copies else []),
            self.media_jobs.shutdown,
            self.jobs.stop,
            self.cap.close,
            self.sms_orders.channels.close,
            self.retained.stop,
            self.gateway.stop,
            self.ingest.stop,
            self.children.stop,
        ]
        if self.broker_log is not None:
            steps.append(self.broker_log.stop)
        if isinstance(self.broker, EmbeddedBroker):
            steps.append(self.broker.stop)
        steps += [self.locks.dispose, self.engine.dispose]
        for step in steps:
            try:
                step()
            except Exception:
                log.exception("stopping %s", getattr(step, "__qualname__", step))
