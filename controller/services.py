"""Everything the controller runs, wired once and held on ``app.state.services``."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from sqlalchemy.orm import Session, sessionmaker

from .broadcasts import BroadcastService
from .broker import EmbeddedBroker
from .db.session import make_engine, make_sessionmaker, migrate
from .fleet import history as fleet_history
from .fleet.commands import CommandSigner
from .fleet.gateway import MqttGateway
from .fleet.ingest import Ingest
from .keys import SigningKey, load_or_create
from .media.pipeline import EncodeSettings
from .media.store import MediaStore
from .scheduler import Scheduler
from .firing import TICK_S, ScheduleFiring
from .plans import PlanService
from .schedules import ScheduleService
from .settings import Settings

log = logging.getLogger(__name__)

API_TOKEN_FILE = "api-token"


def hash_token(secret: str) -> str:
    """Tokens are 256-bit random strings, so a plain SHA-256 is a sufficient verifier."""
    return hashlib.sha256(secret.encode()).hexdigest()


def tokens_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def load_or_create_api_token(settings: Settings) -> str:
    """The operator token: from settings, else from the data dir, else generated there (0600)."""
    if settings.api_token:
        return settings.api_token
    path = settings.data_dir / API_TOKEN_FILE
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(32)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(token + "\n")
    return token


class Services:
    def __init__(self, settings: Settings):
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(settings.resolved_database_url)
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        self.store = MediaStore(settings.media_dir)
        self.encode_settings = EncodeSettings(
            loudness_target_lufs=settings.loudness_target_lufs,
            true_peak_dbtp=settings.true_peak_dbtp,
            loudness_range_lu=settings.loudness_range_lu,
            opus_bitrate_kbps=settings.opus_bitrate_kbps,
            min_duration_s=settings.min_duration_s,
            max_duration_s=settings.max_duration_s,
            ffmpeg=settings.ffmpeg,
            ffprobe=settings.ffprobe,
        )
        self.key: SigningKey = load_or_create(settings.keys_dir)
        self.api_token = load_or_create_api_token(settings)
        self.broker = (EmbeddedBroker(settings.mqtt_host, settings.mqtt_port)
                       if settings.embedded_broker else None)
        self.ingest = Ingest(self.sessions)
        self.gateway = MqttGateway(settings.mqtt_host, settings.mqtt_port, self.ingest.submit,
                                   username=settings.mqtt_username,
                                   password=settings.mqtt_password)
        self.scheduler = Scheduler()
        self.signer = CommandSigner(self.key, self.sessions)
        self.schedules = ScheduleService(self.sessions, settings.timezone)
        self.plans = PlanService(self.sessions, self.schedules, self.signer, self.gateway,
                                 settings.default_max_late_s)
        self.broadcasts = BroadcastService(settings, self.sessions, self.signer, self.gateway,
                                           self.scheduler)
        self.firing = ScheduleFiring(self.sessions, self.schedules, self.broadcasts,
                                     settings.prefetch_lead_s)

    def start(self) -> None:
        migrate(self.engine)
        if self.broker:
            self.broker.start()
        self.ingest.start()
        self.gateway.start()
        if not self.gateway.wait_connected(10):
            log.warning("MQTT broker %s:%s not reachable yet; will keep trying",
                        self.settings.mqtt_host, self.settings.mqtt_port)
        self.scheduler.start()
        self.broadcasts.recover()
        self.scheduler.every(self.settings.plan_refresh_s, "plans", self.plans.publish_changed)
        self.scheduler.every(TICK_S, "firing", self.firing.tick)
        self.scheduler.every(self.settings.fleet_sample_s, "fleet-sample",
                             lambda: fleet_history.record(self.sessions))

    def plans_changed(self) -> None:
        """Schedules, devices or zones changed: republish plans and fire what is due, soon."""
        self.scheduler.run_soon("plans-now", self._refresh)

    def _refresh(self) -> None:
        self.plans.publish_changed()
        self.firing.tick()

    def stop(self) -> None:
        self.scheduler.stop()
        self.gateway.stop()
        self.ingest.stop()
        if self.broker:
            self.broker.stop()
        self.engine.dispose()
