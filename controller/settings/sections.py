"""The controller's settings by section: one model per concern (storage, web, broker, media,
broadcasts, live, CAP, fleet, notices), each forbidding keys it does not know."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..cap.rules import DEFAULT_RULES, CapRule


class CapFeed(BaseModel):
    """A warning centre's CAP alerts, with its release policy: posted to ``/api/cap`` with
    the feed's token, dropped into a watched folder, and/or fetched from a URL."""

    model_config = ConfigDict(extra="forbid")
    token: str | None = Field(None, min_length=16, description="for POST /api/cap")
    policy: Literal["confirm", "auto"] = "confirm"
    test_zone: str | None = Field(
        None,
        description="Test and Exercise alerts play only here "
        "(never to the public); none: logged only",
    )
    folder: Path | None = Field(
        None,
        description="*.xml files dropped here are read, then "
        "moved to done/ or refused/ (with the reason beside them)",
    )
    url: str | None = Field(
        None,
        pattern=r"^https?://",
        max_length=500,
        description="one CAP alert, or an Atom/RSS index of alerts",
    )
    poll_s: float = Field(30.0, ge=5, le=3600, description="how often folder and URL are read")

    @model_validator(mode="after")
    def _has_a_source(self) -> CapFeed:
        if not (self.token or self.folder or self.url):
            raise ValueError("a CAP feed needs a token (to POST), a folder or a url")
        return self


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (nothing off it can reach it there)."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class CommandValidity(BaseModel):
    """How long each kind of command stays valid after it is issued (seconds): an agent refuses
    it afterwards, and the command path stops retrying it. Plays and plans carry their own
    (the play window, the plan window). Set as ``LOALANG_COMMAND_VALIDITY__STOP=60``."""

    model_config = ConfigDict(extra="forbid")

    # at most what agents accept for the kind (protocol/envelope.py MAX_VALIDITY)
    cancel: int = Field(
        3600, ge=10, le=7 * 86400, description="outlives any play window it cancels"
    )
    stop: int = Field(
        300,
        ge=10,
        le=86400,
        description="STOP is about this moment: a device "
        "that was offline must not fall silent much later",
    )
    set_zones: int = Field(86400, ge=10, le=7 * 86400)
    set_volume: int = Field(86400, ge=10, le=7 * 86400)
    prepare: int = Field(
        3600,
        ge=10,
        le=86400,
        description="how long a device keeps an "
        "emergency's media while it waits for its second person",
    )
    trust_key: int = Field(
        7 * 86400,
        ge=10,
        le=7 * 86400,
        description="a device offline this long still learns the next signing key when it returns",
    )
    retire_key: int = Field(7 * 86400, ge=10, le=7 * 86400)
    pin: int = Field(
        7 * 86400,
        ge=60,
        le=7 * 86400,
        description="a device offline this long still takes the pinned messages on return "
        "(one offline longer is sent them again when it reports an older set)",
    )
    calibrate_hearing: int = Field(
        3600,
        ge=60,
        le=86400,
        description="a microphone calibration asked for while the cluster is offline "
        "still happens if it returns within this",
    )
    update: int = Field(
        86400,
        ge=60,
        le=7 * 86400,
        description="a device offline this "
        "long after its wave began still installs the release on return",
    )

    def seconds(self, kind: str) -> int:
        value = getattr(self, kind, None)
        if not isinstance(value, int):
            raise KeyError(f"no validity for command kind {kind!r}")
        return value


class StorageSettings(BaseModel):
    """Where the controller keeps its data, and which of several controllers leads."""

    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Field(Path("./loalang-data"), description="Database, media store and keys")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in data_dir")
    shared_dir: Path | None = Field(
        None,
        description="media store and signing keys, shared by "
        "every controller of one PostgreSQL database (a network "
        "filesystem); default data_dir",
    )
    leader_poll_s: float = Field(
        1.0,
        gt=0,
        le=30,
        description="how often a follower controller tries to take the lead (PostgreSQL)",
    )
    timezone: str = Field(
        "Asia/Ho_Chi_Minh", description="local civil time of schedules, pages and reports"
    )
    archive_dir: Path | None = Field(
        None,
        description="the station's archive: the channel recorded in hour files "
        "(docs/archive.md); default data_dir/archive",
    )
    archive_kbps: int = Field(24, ge=8, le=128, description="the archive's Opus bit rate")
    archive_alarm_free_pct: float = Field(
        10.0,
        ge=1,
        le=90,
        description="an alarm when the archive's disk has less free than this, or than "
        "archive_alarm_days of recording",
    )
    archive_alarm_days: int = Field(
        30, ge=1, le=365, description="days of recording the archive's disk must still hold"
    )


class WebSettings(BaseModel):
    """The web UI and the API: addresses, HTTPS, logins."""

    model_config = ConfigDict(extra="forbid")

    http_host: str = Field("127.0.0.1", description="where the web UI and API listen (HTTP)")
    http_port: int = Field(8080, ge=1, le=65535, description="its port")
    public_url: str | None = Field(None, description="Base URL agents use to fetch media")
    https_host: str = Field(
        "0.0.0.0",
        description="where the web UI is served over HTTPS "
        "(the station's LAN: phones need it for the microphone)",
    )
    https_port: int = Field(8443, ge=0, description="0: no HTTPS")
    tls_cert: Path | None = Field(
        None,
        description="the operator's certificate (PEM, chain "
        "included); unset: one made by the station's own CA",
    )
    tls_key: Path | None = Field(None, description="the key of LOALANG_TLS_CERT (PEM)")
    tls_names: list[str] = Field(
        default_factory=list,
        description="more names the made certificate covers (the machine's own are found)",
    )
    station_name: str = Field(
        "Đài truyền thanh xã",
        max_length=64,
        description="the station's name on pages, reports and its own certificate",
    )
    session_hours: float = Field(12.0, gt=0, description="browser login lifetime")
    login_lockout_failures: int = Field(
        10,
        ge=1,
        description="failed logins to one name "
        "from one address that refuse it there until "
        "login_lockout_minutes pass (slowed from the 3rd; a "
        "browser that logged in to it before is exempt)",
    )
    login_lockout_minutes: int = Field(
        15, ge=1, description="the window failed log-ins are counted over"
    )
    login_slowdown_max_s: float = Field(
        300.0,
        gt=0,
        description="the longest a slowed log-in waits (2 s after the 3rd failure, doubling)",
    )
    api_token: str | None = Field(None, description="Operator API token; generated if unset")


class BrokerSettings(BaseModel):
    """The MQTT broker: the one the controller runs, or one it is told of; log-ins and ACL."""

    model_config = ConfigDict(extra="forbid")

    broker: Literal["external", "mosquitto", "embedded"] = Field(
        "external",
        description="external: connect to a broker run as a service; mosquitto: "
        "start and stop one (config in data_dir/mosquitto); embedded: an in-process amqtt "
        "broker, for trying out only (no ACL, fails under connection bursts)",
    )
    mqtt_host: str = Field(
        "127.0.0.1", description="the broker, as the controller reaches it (plain MQTT: loopback)"
    )
    mqtt_port: int = Field(1883, ge=1, le=65535, description="its port")
    controller_id: str | None = Field(
        None,
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="this controller's own status topic "
        "(several may share a broker); made once into "
        "data_dir/controller-id if unset",
    )
    mqtt_username: str | None = Field(
        None,
        description="the controller's own broker login "
        "(default loalang-controller where access is managed)",
    )
    mqtt_password: str | None = Field(
        None, description="generated into data_dir/mosquitto/controller-password if unset"
    )
    mqtt_ca_file: Path | None = Field(
        None,
        description="MQTT over TLS to an operator's "
        "broker: its certificate checked against this CA and "
        "mqtt_host (agents get the CA in their config)",
    )
    mqtt_tls_port: int = Field(
        0,
        ge=0,
        description="the Mosquitto the controller runs also "
        "listens here with TLS (certificate from the station's CA), "
        "for agents off this machine; 0: loopback only",
    )
    mqtt_tls_host: str = Field(
        "0.0.0.0", description="where the managed broker's TLS listener listens"
    )
    mqtt_public_host: str | None = Field(
        None,
        description="the broker's name agents connect "
        "to (default: public_url's host); in the certificate",
    )
    broker_access: bool | None = Field(
        None,
        description="log-ins and ACL from the device "
        "registry: default on for the Mosquitto the controller "
        "runs, and wherever mqtt_password_file or "
        "nats_authorization_file is set",
    )
    mqtt_password_file: Path | None = Field(
        None, description="an operator-run Mosquitto's password_file, kept by the controller"
    )
    mqtt_acl_file: Path | None = Field(None, description="its acl_file, kept by the controller")
    nats_authorization_file: Path | None = Field(
        None,
        description="a NATS cluster's authorization block (device log-ins and "
        "subjects), kept by the controller; every node's config includes it",
    )
    mqtt_reload_command: str | None = Field(
        None,
        description="run after they change, e.g. "
        "'systemctl reload mosquitto' (NATS: "
        "'systemctl reload nats-server' on every node)",
    )
    broker_log_file: Path | None = Field(
        None,
        description="the log file of a broker the "
        "operator runs, followed for its refusals (ACL "
        "denials) as devices' security events; Mosquitto "
        "with log_type debug, or NATS",
    )
    child_restart_max_s: float = Field(
        60.0,
        gt=0,
        description="the longest wait before a "
        "dead broker or Icecast the controller runs is started "
        "again (the wait doubles from 1 s)",
    )
    child_stable_s: float = Field(
        60.0, gt=0, description="up this long after dying, a service's alarm clears"
    )


class MediaSettings(BaseModel):
    """Uploads and text to speech: limits, loudness, encoding, voices."""

    model_config = ConfigDict(extra="forbid")

    # media pipeline
    max_upload_bytes: int = Field(
        200 * 1024 * 1024, description="the largest audio file an upload may be"
    )
    max_duration_s: float = Field(2 * 3600, description="the longest bulletin, in seconds")
    min_duration_s: float = Field(0.3, description="the shortest bulletin (shorter: not audio)")
    loudness_target_lufs: float = Field(
        -16.0, description="every bulletin is brought to this loudness (docs/media.md)"
    )
    true_peak_dbtp: float = Field(-1.5, description="ceiling, measured in the stored Opus file")
    loudness_tolerance_lu: float = Field(
        1.0, gt=0, description="a stored file further off target is flagged to the user"
    )
    opus_bitrate_kbps: int = Field(20, description="what bulletins are encoded at (Opus)")
    ffmpeg: str = Field("ffmpeg", description="the ffmpeg program")
    ffprobe: str = Field("ffprobe", description="the ffprobe program")
    media_workers: int = Field(2, ge=1, le=8, description="uploads and speech processed at once")
    # text to speech
    tts_default_voice: str = Field("espeak:vi", description="until the station chooses one")
    tts_hosted_url: str | None = Field(
        None,
        description="a hosted TTS service (HTTP API: "
        "text + voice in, audio out); none: espeak-ng only",
    )
    tts_hosted_api_key: str | None = Field(None, description="sent to the hosted service")
    tts_hosted_voices: dict[str, str] = Field(
        default_factory=dict,
        description="voice name → the service's voice id, e.g. "
        '{"ban-mai": "banmai"}; each is offered as "hosted:NAME" (Vietnamese)',
    )
    espeak: str = Field("espeak-ng", description="the espeak-ng program")


class BroadcastSettings(BaseModel):
    """When broadcasts and emergencies play, and how long commands stay valid."""

    model_config = ConfigDict(extra="forbid")

    # timing
    sync_lead_s: float = Field(4.0, description="start_at = now + this for 'now' broadcasts")
    emergency_volume: int = Field(
        100,
        ge=0,
        le=100,
        description="every emergency plays at this volume, whatever a loudspeaker's own volume is",
    )
    emergency_lead_min_s: float = Field(
        0.5,
        ge=0.1,
        description="an emergency's sync lead: "
        "the fleet's measured command delivery time (p99 of the "
        "recent acks), at least this, at most sync_lead_s",
    )
    emergency_lead_unmeasured_s: float = Field(
        1.5, ge=0.1, description="an emergency's sync lead before any delivery has been measured"
    )
    prefetch_lead_s: float = Field(90.0, description="send scheduled plays this long before start")
    default_max_late_s: int = Field(120, description="how late an agent may still start a play")
    command_validity: CommandValidity = Field(
        default_factory=CommandValidity,
        description="seconds each kind of command stays valid: cancel, stop, set_zones, "
        "set_volume, prepare, trust_key, retire_key, pin, update, calibrate_hearing "
        "(LOALANG_COMMAND_VALIDITY__STOP=60)",
    )
    command_retry_s: float = Field(
        5.0,
        gt=0,
        description="publish commands kept while the "
        "broker was down this often (and at once on reconnect)",
    )
    missed_grace_s: float = Field(10.0, description="wait after a play's window before 'missed'")
    plan_refresh_s: float = Field(600.0, description="recompute plans this often (window slides)")


class LiveSettings(BaseModel):
    """Live voices and relays: the station's Icecast and its sources."""

    model_config = ConfigDict(extra="forbid")

    # live and relays (docs/live.md)
    icecast: Literal["managed", "external", "off"] = Field(
        "managed",
        description="managed: the controller writes Icecast's config and starts it "
        "(Debian package icecast2); external: one the operator runs, set up as docs/live.md "
        "shows; off: no live broadcasts",
    )
    icecast_host: str = Field("127.0.0.1", description="where the managed Icecast listens")
    icecast_port: int = Field(8000, ge=1, le=65535, description="its port")
    icecast_public_url: str | None = Field(
        None, description="how devices reach Icecast; default http://icecast_host:icecast_port"
    )
    icecast_source_password: str | None = Field(
        None, description="the controller's own sources (browser, line-in); generated if unset"
    )
    relay_presets: dict[str, str] = Field(
        default_factory=dict,
        description="name → stream URL offered on the relay form (VOV1, the province)",
    )
    live_max_s: int = Field(
        3 * 3600, ge=60, le=6 * 3600, description="a live broadcast ends by itself after this long"
    )
    live_lead_s: float = Field(
        1.0, ge=0.2, le=10, description="a live or relay play starts this long after it is sent"
    )
    live_delay_ms: int = Field(
        200,
        ge=100,
        le=10_000,
        description="every loudspeaker plays live audio this long after it was captured, all "
        "together; 200 ms on a LAN, 800–1500 ms over 4G (docs/live.md)",
    )
    relay_delay_ms: int = Field(
        1500,
        ge=0,
        le=10_000,
        description="every loudspeaker plays a relay (VOV, the provincial station) this long "
        "after the station received it, all together; 0: each plays the relayed stream itself, "
        "out of step (docs/live.md)",
    )
    live_line_in: str = Field(
        "-f alsa -i default",
        description="ffmpeg input arguments of the controller's line-in (the station's mixer)",
    )
    live_source_grace_s: float = Field(
        15.0,
        ge=1,
        description="a live broadcast whose source "
        "went away (browser closed, link lost) ends after this",
    )


class CapSettings(BaseModel):
    """CAP alerts from warning centres: the feeds and the station's rules."""

    model_config = ConfigDict(extra="forbid")

    # CAP 1.2 alerts from warning centres
    cap_feeds: dict[str, CapFeed] = Field(
        default_factory=dict,
        description='feed name → {"token": "...", "policy": "confirm" '
        '(two people, the default) or "auto", "test_zone": a zone for Test/Exercise alerts, '
        '"folder": a watched folder, "url": a CAP alert or Atom/RSS index, "poll_s": 30}; '
        "a token posts to /api/cap",
    )
    cap_rules: list[CapRule] = Field(
        default_factory=lambda: list(DEFAULT_RULES),
        description="severity/urgency/certainty → action, first match wins (docs/emergencies.md)",
    )


class SmsSettings(BaseModel):
    """When the data link is gone: SMS orders that sound the pinned messages
    (docs/emergencies.md)."""

    model_config = ConfigDict(extra="forbid")

    sms_modem_port: str | None = Field(
        None,
        description="the station's GSM/4G modem's AT port (e.g. /dev/ttyUSB2) that sends SMS "
        "orders; none: no modem",
    )
    sms_modem_baudrate: int = Field(115200, ge=1200, description="the modem's AT port speed")
    sms_gateway_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="an SMS gateway over HTTPS, the second channel: POST "
        '{"to": "+84…", "text": "…"} with the token as a bearer (docs/emergencies.md)',
    )
    sms_gateway_token: str | None = Field(None, description="the gateway's bearer token")
    sms_gateway_ca: str | None = Field(
        None,
        description="a CA bundle (PEM file) the gateway's certificate is checked against; "
        "none: the system's CAs",
    )
    sms_fallback_after_s: float = Field(
        6.0,
        ge=0,
        description="an emergency whose start a cluster has not reported this long after its "
        "start time goes to that cluster by SMS (0: never on its own)",
    )
    sms_resend_after_s: float = Field(
        10.0,
        gt=0,
        description="an SMS order with no report of its play yet is sent once more after this "
        "(a lost SMS; the copy plays once)",
    )
    sms_valid_min: int = Field(
        30, ge=1, le=1440, description="an SMS order is obeyed this many minutes after sending"
    )
    pinned_alarm_after_min: float = Field(
        30.0,
        gt=0,
        description="a cluster online without the current pinned messages this long after "
        "they changed raises an alarm",
    )


class FleetSettings(BaseModel):
    """The loudspeakers: reports, health history, alarms, updates."""

    model_config = ConfigDict(extra="forbid")

    offline_after_s: float = Field(180.0, description="no report for this long: shown as stale")
    ingest_process: bool = Field(
        True,
        description="on PostgreSQL, apply agent reports in a "
        "process of its own (the MQTT threads then never wait for "
        "the database work's interpreter lock)",
    )
    telemetry_full_days: float = Field(
        2.0,
        gt=0,
        description="health readings older than this are thinned to one an hour per device",
    )
    telemetry_keep_days: float = Field(
        30.0,
        gt=0,
        description="health readings older than this are deleted (the device page plots 2 days)",
    )
    offline_alarm_min: float = Field(
        10.0,
        gt=0,
        description="a cluster offline this long "
        "raises a device_offline alarm (cleared when it is back)",
    )
    fleet_sample_s: float = Field(
        300.0,
        gt=0,
        description="sample the fleet's online ratio "
        "this often (kept 90 days, plotted on the fleet page)",
    )
    rollout_every_s: float = Field(
        10.0,
        gt=0,
        description="follow agent update rollouts this often (outcomes in, the next wave out)",
    )


class NoticeSettings(BaseModel):
    """Telling people: e-mail and a webhook, at a bounded rate."""

    model_config = ConfigDict(extra="forbid")

    # notices to people (controller/notices): e-mail and a webhook; the web UI always lists them
    notice_every_s: float = Field(30.0, gt=0, description="look for what to tell this often")
    notice_per_hour: int = Field(
        20,
        ge=1,
        le=10_000,
        description="at most this many notices "
        "an hour per channel; the rest are recorded as suppressed",
    )
    notice_confirm_wait_s: float = Field(
        120.0, gt=0, description="an emergency waiting this long for its second person is told"
    )
    notice_language: str = Field("vi", pattern="^(vi|en)$", description="vi or en")
    notice_smtp_host: str | None = Field(None, description="SMTP server (unset: no e-mail)")
    notice_smtp_port: int = Field(25, ge=1, le=65535, description="its port")
    notice_smtp_starttls: bool = Field(False, description="STARTTLS before logging in")
    notice_smtp_user: str | None = Field(None, description="SMTP log-in, if it needs one")
    notice_smtp_password: str | None = Field(None, description="its password")
    notice_smtp_from: str = Field("loalang@localhost", description="the sender address")
    notice_smtp_to: list[str] = Field(default_factory=list, description="technicians' addresses")
    notice_webhook_url: str | None = Field(
        None, description="HTTPS endpoint of a chat or SMS gateway (JSON POST; unset: none)"
    )
    notice_webhook_token: str | None = Field(None, description="sent as a Bearer token")
