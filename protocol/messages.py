"""Typed models of every message body that crosses MQTT (msgspec Structs).

Commands (controller → agent) travel inside a signed envelope (see ``envelope.py``);
reports (agent → controller) are plain JSON, each with an ``event_id`` so the controller can
deduplicate what an agent's outbox sends twice.

msgspec rather than pydantic: the same strictness (no coercion, booleans are not numbers,
unknown fields refused, datetimes need an offset) at a fraction of the memory, which matters on
a Pi (``docs/benchmarks.md``). Decoding validates; constructing does not, so whatever is signed
is checked by a round trip first (``envelope.sign``).
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

import msgspec
import msgspec.structs
from msgspec import Meta

from .topics import ID_PATTERN, SHA256_PATTERN, TARGET_PATTERN

UtcDatetime = Annotated[datetime, Meta(tz=True)]
"""A datetime that must carry an explicit offset; held in UTC after decoding."""
Sha256 = Annotated[str, Meta(pattern=SHA256_PATTERN)]
Ident = Annotated[str, Meta(pattern=f"^{ID_PATTERN}$")]
Target = Annotated[str, Meta(pattern=TARGET_PATTERN)]
Text200 = Annotated[str, Meta(max_length=200)]
Line200 = Annotated[str, Meta(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
"""One line of text in a command (a title, a reason): no control characters."""


def one_line(text: str, limit: int = 200) -> str:
    """``text`` as a command may carry it: whitespace and control characters become single
    spaces, cut at ``limit`` (a title typed with a line break, a CAP headline)."""
    return " ".join("".join(" " if c < " " or c == "\x7f" else c for c in text).split())[:limit]


Percent = Annotated[int, Meta(ge=0, le=100)]
WORD_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,79}$"
PlayId = Annotated[str, Meta(pattern=WORD_PATTERN)]
"""A play, broadcast or command id: letters, digits and ``._:-``, never a space or a control
character (ids go into logs and database keys)."""


def utcnow() -> datetime:
    """Current time as an aware UTC datetime."""
    return datetime.now(timezone.utc)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is timezone.utc else value.astimezone(timezone.utc)


class Priority(str, enum.Enum):
    """Priority levels, lowest first (Circular 39/2020 plus live and background)."""

    background = "background"
    normal = "normal"
    priority = "priority"
    live = "live"
    emergency = "emergency"

    @property
    def rank(self) -> int:
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {p: i for i, p in enumerate(Priority)}


class Message(msgspec.Struct, forbid_unknown_fields=True):
    """Every message: unknown fields refused; every field written (readers need no defaults),
    except in the command parts that gained fields later (``omit_defaults``: a stream, a
    cancel): those are left out at their default, so an agent one version older still reads
    what it knows. (Events go to the controller, which is upgraded first.)"""


class Tagged(Message, tag_field="type"):
    """A message whose ``type`` names it (commands, events): unions decode by that tag."""

    @property
    def type(self) -> str:
        return self.__struct_config__.tag  # type: ignore[return-value]


# --- commands (the signed body) -------------------------------------------------------------


class MediaRef(Message):
    """An immutable audio file the agent fetches over HTTP and checks against ``sha256``."""

    sha256: Sha256
    url: Annotated[str, Meta(max_length=500, pattern=r"^(/|https?://)[\x21-\x7e]*$")]
    """absolute, or a path on the controller; printable ASCII (URLs are percent-encoded)"""
    size: Annotated[int, Meta(ge=1, le=2**40)]
    duration_ms: Annotated[int, Meta(ge=1, le=2**40)]
    mime: Annotated[str, Meta(max_length=40, pattern=r"^[a-z]+/[a-z0-9.+-]+$")] = "audio/ogg"


StreamUrl = Annotated[str, Meta(max_length=500, pattern=r"^https?://[\x21-\x7e]+$")]


class StreamRef(Message, omit_defaults=True):
    """A live stream (relay or live studio) played for ``duration_s``; ``fallback_urls`` are
    tried in order when ``url`` cannot be reached or drops and does not come back.

    ``live``: a voice from the station, played with a short jitter buffer (old audio is
    dropped, so the delay stays low) until a cancel with ``ended`` says it is over.
    ``auth``: the station's own stream server, listened to with the device's credentials."""

    url: StreamUrl
    duration_s: Annotated[int, Meta(ge=1, le=6 * 3600)]
    fallback_urls: Annotated[list[StreamUrl], Meta(max_length=5)] = msgspec.field(
        default_factory=list
    )
    live: bool = False
    auth: bool = False
    # dead air: after this long of silence from a URL (connected but silent), the next is
    # tried; when none gives sound, ``fallback_media`` (a stored bulletin) plays
    silence_s: Annotated[int, Meta(ge=2, le=600)] | None = None
    fallback_media: MediaRef | None = None
    # the station stamps the stream with its capture time (docs/live.md): every loudspeaker
    # plays each piece at capture time + ``delay_ms``, so all of them speak together
    delay_ms: Annotated[int, Meta(ge=50, le=10_000)] | None = None
    # a relay: the station's own copy of it on its timeline (the device's credentials, played
    # at capture + ``delay_ms``), tried first; ``url`` and the fallbacks, out of step, when
    # that copy gives nothing (the station or its stream server out of reach, or mute)
    station_url: StreamUrl | None = None

    @property
    def urls(self) -> list[str]:
        return [self.url, *self.fallback_urls]


class Playable(Message, kw_only=True):
    """What is played, and when: a stored file (``media``) or a live relay (``stream``),
    exactly one; a command and a plan entry both hold it."""

    play_id: PlayId
    start_at: UtcDatetime
    title: Line200 = ""
    priority: Priority = Priority.normal
    volume: Percent | None = None
    media: MediaRef | None = None
    stream: StreamRef | None = None

    def __post_init__(self) -> None:
        self.start_at = _utc(self.start_at)
        if (self.media is None) == (self.stream is None):
            raise ValueError(f"{type(self).__name__} carries exactly one of media or stream")


class PlayCommand(Playable, Tagged, tag="play", kw_only=True):
    """Play ``media`` (or relay ``stream``) at ``start_at`` (the same instant on every target)."""

    broadcast_id: PlayId


class PrepareCommand(Tagged, tag="prepare"):
    """Fetch and keep ``media`` for a play that may come (an emergency waiting for its second
    person); plays nothing. The play command that follows then needs no download."""

    play_id: PlayId
    media: MediaRef


class CancelCommand(Tagged, tag="cancel", omit_defaults=True):
    """Drop a play that has not started yet; stop it if it is playing. ``ended``: the play is
    over as planned (a live broadcast's "Kết thúc"): reported finished, not interrupted."""

    play_id: PlayId
    ended: bool = False


class SetVolumeCommand(Tagged, tag="set_volume"):
    """The device's own volume (percent), kept across restarts; a play's volume scales it."""

    level: Percent


class StopCommand(Tagged, tag="stop"):
    """Silence the target at once, whatever is playing."""

    reason: Line200 = ""


class SetZonesCommand(Tagged, tag="set_zones"):
    """Tell one device which zones it belongs to (it resubscribes to their command topics)."""

    zones: Annotated[list[Ident], Meta(max_length=64)]


KeyId = Annotated[str, Meta(pattern=r"^[0-9a-f]{16}$")]
"""First 16 hex digits of the SHA-256 of a raw Ed25519 public key (``envelope.key_id``)."""


class TrustKeyCommand(Tagged, tag="trust_key"):
    """Obey commands signed with this key too (the controller's next key, announced with the
    current one before it takes over). ``key``: base64url raw Ed25519 public key."""

    kid: KeyId
    key: Annotated[str, Meta(min_length=43, max_length=44, pattern=r"^[A-Za-z0-9_-]+$")]


class RetireKeyCommand(Tagged, tag="retire_key"):
    """Never obey this key again (the controller's old key, once the next one signs)."""

    kid: KeyId


VersionText = Annotated[str, Meta(max_length=40, pattern=r"^[0-9][0-9A-Za-z.+!_-]{0,39}$")]
"""An agent release's version (PEP 440: ``0.2.0``, ``0.2.0rc1``, ``0.2.0+station.1``)."""


class UpdateCommand(Tagged, tag="update", kw_only=True):
    """Install this agent release (a wheel, fetched over HTTP and checked against ``sha256``)
    beside the running one and switch to it; the agent goes back to the running one on its
    own if the new one does not come online and pass its self-check within ``confirm_s``."""

    version: VersionText
    url: Annotated[str, Meta(max_length=500, pattern=r"^(/|https?://)[\x21-\x7e]*$")]
    sha256: Sha256
    size: Annotated[int, Meta(ge=1, le=512 * 2**20)]
    confirm_s: Annotated[int, Meta(ge=10, le=3600)] = 180


class PlanEntry(Playable, kw_only=True):
    """One play in a device's plan (its play id doubles as the broadcast id)."""


class PlanCommand(Tagged, tag="plan"):
    """What a device plays over the next hours; retained on ``device/{id}/plan``.

    The agent keeps it on disk and plays from it on its own clock when the link is down.
    """

    version: Annotated[str, Meta(max_length=64, pattern=WORD_PATTERN)]
    window_start: UtcDatetime
    window_end: UtcDatetime
    max_late_s: Annotated[int, Meta(ge=0, le=3600)] = 120
    entries: Annotated[list[PlanEntry], Meta(max_length=2000)] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        self.window_start = _utc(self.window_start)
        self.window_end = _utc(self.window_end)


CommandBody = (
    PlayCommand
    | PrepareCommand
    | CancelCommand
    | StopCommand
    | SetZonesCommand
    | SetVolumeCommand
    | PlanCommand
    | TrustKeyCommand
    | RetireKeyCommand
    | UpdateCommand
)


class CommandPayload(Message):
    """The signed part of an envelope: who signed, for whom, when it is valid, in what order."""

    kid: KeyId
    cmd_id: PlayId
    target: Target
    issued_at: UtcDatetime
    not_after: UtcDatetime
    seq: Annotated[int, Meta(ge=1)]
    body: CommandBody
    v: Literal[1] = 1

    def __post_init__(self) -> None:
        self.issued_at = _utc(self.issued_at)
        self.not_after = _utc(self.not_after)


# --- reports (agent → controller) -----------------------------------------------------------


class DeviceState(str, enum.Enum):
    online = "online"
    offline = "offline"
    stopped = "stopped"


class StatusMessage(Message):
    """Retained on ``device/{id}/status``; the last-will publishes ``state=offline``."""

    device_id: Ident
    state: DeviceState
    ts: UtcDatetime | None = None
    version: Annotated[str, Meta(max_length=40)] = ""
    capabilities: Annotated[list[Annotated[str, Meta(max_length=40)]], Meta(max_length=32)] = (
        msgspec.field(default_factory=list)
    )
    zones: Annotated[list[Ident], Meta(max_length=64)] = msgspec.field(default_factory=list)


class ReceiptMessage(Message):
    """On ``device/{id}/receipt``: these reports are stored (or refused for good, so never
    worth sending again); the agent deletes them from its outbox. Only the controller's
    credential may publish here (the broker's ACL), so it is not signed."""

    ids: Annotated[list[PlayId], Meta(max_length=1000)]


class AckMessage(Message):
    """Sent once per command the agent received: accepted, or rejected with a reason."""

    event_id: PlayId
    device_id: Ident
    cmd_id: Annotated[str, Meta(max_length=80)]
    ts: UtcDatetime
    accepted: bool
    play_id: PlayId | None = None
    reason: Text200 | None = None


class HardwareReadings(Message):
    """What the cluster's control board says (MCU) or what the agent switched (relay board)."""

    backend: Annotated[str, Meta(max_length=20)]
    connected: bool
    firmware: Text200 | None = None
    mcu_uptime_s: int | None = None
    mains: bool | None = None
    battery_v: float | None = None
    temperature_c: float | None = None
    door_open: bool | None = None
    amplifiers: Annotated[list[bool], Meta(max_length=16)] = msgspec.field(default_factory=list)
    input: Annotated[str, Meta(max_length=10)] | None = None
    volume: int | None = None
    line_ma: Annotated[list[int], Meta(max_length=16)] = msgspec.field(default_factory=list)


class NetworkReadings(Message):
    """The uplink: which interface carries the default route, and its signal where known."""

    interface: Annotated[str, Meta(max_length=32)] | None = None
    type: Literal["ethernet", "wifi", "cellular", "unknown"] = "unknown"
    signal_dbm: int | None = None
    signal_percent: Percent | None = None


class LineCheck(Message):
    """Proof of play from the hardware: current in each speaker line while the audio played."""

    line_ma: Annotated[list[int], Meta(max_length=16)]
    dead_channels: Annotated[list[int], Meta(max_length=16)] = msgspec.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.dead_channels


class AgentCounters(Message):
    """What the agent counted since it started (a monitoring system plots their rates)."""

    commands_accepted: int = 0
    commands_refused: int = 0
    plays_started: int = 0
    plays_finished: int = 0
    link_losses: int = 0  # MQTT sessions lost
    reports_resent: int = 0  # sent again for want of the controller's receipt


class HealthReport(Message):
    """Periodic health telemetry."""

    event_id: PlayId
    device_id: Ident
    ts: UtcDatetime
    version: Annotated[str, Meta(max_length=40)]
    uptime_s: Annotated[int, Meta(ge=0)]
    load_1m: float | None = None
    mem_total_mb: int | None = None
    mem_available_mb: int | None = None
    disk_free_mb: int | None = None
    cache_mb: float = 0.0
    cache_files: int = 0
    clock_synchronized: bool | None = None
    # true time minus this device's clock (NTP's θ), and where it was read (chrony, timesyncd,
    # sntp); None where nothing answers
    clock_offset_ms: float | None = None
    clock_source: Annotated[str, Meta(max_length=20)] | None = None
    outbox_pending: int = 0
    duplicates_ignored: int = 0  # QoS 1 redeliveries of the last command
    volume: Percent | None = None
    hardware: HardwareReadings | None = None
    last_line_check: LineCheck | None = None  # speaker lines in the last play
    network: NetworkReadings | None = None
    counters: AgentCounters | None = None


class _Event(Tagged):
    event_id: PlayId
    device_id: Ident
    ts: UtcDatetime


class MediaReadyEvent(_Event, tag="media.ready"):
    play_id: PlayId
    sha256: Sha256
    fetched_bytes: int = 0


# Not ready at start_at (the command or media came late, the device came back): the play
# started this far into its audio, so it is in step with the loudspeakers that were on time.
JoinedLateMs = Annotated[int, Meta(ge=0)] | None


class PlaybackStartedEvent(_Event, tag="playback.started"):
    play_id: PlayId
    broadcast_id: PlayId
    scheduled_start: UtcDatetime
    actual_start: UtcDatetime  # on the device's own clock
    joined_late_ms: JoinedLateMs = None
    clock_offset_ms: float | None = None  # true start = actual_start + this (HealthReport)
    # which time the start was placed on: "system" (a clock chrony or timesyncd disciplines),
    # "offset" (the agent's own SNTP offset applied) or "free" (no reading: the clock as is)
    clock_source: Literal["system", "offset", "free"] | None = None
    # back after a higher priority cut it ("emergency:<play id>"): docs/protocol.md, resume rule
    resumed_after: Text200 | None = None


class PlaybackFinishedEvent(_Event, tag="playback.finished"):
    play_id: PlayId
    broadcast_id: PlayId
    scheduled_start: UtcDatetime
    actual_start: UtcDatetime
    actual_end: UtcDatetime
    played_ms: Annotated[int, Meta(ge=0)]
    interrupted: bool = False
    interrupted_by: Text200 | None = None
    line_check: LineCheck | None = None
    stream_urls: Annotated[list[str], Meta(max_length=20)] | None = None  # streams that played
    silence_ms: Annotated[int, Meta(ge=0)] | None = None  # stream gaps filled with silence
    dead_air_ms: Annotated[int, Meta(ge=0)] | None = None  # gaps and silent sound, in all
    silence_switches: Annotated[int, Meta(ge=0)] | None = None  # URLs left for their silence
    joined_late_ms: JoinedLateMs = None
    # a sound card's timekeeping (outputs/alsa.py): underruns, jumps back onto the timeline,
    # samples inserted or dropped against its crystal's drift, and the largest error seen
    underruns: Annotated[int, Meta(ge=0)] | None = None
    timeline_rejoins: Annotated[int, Meta(ge=0)] | None = None
    timeline_corrected_ms: Annotated[float, Meta(ge=0)] | None = None
    timeline_max_error_ms: Annotated[float, Meta(ge=0)] | None = None
    resumed_after: Text200 | None = None
    # a stream on the station's timeline: the delay it played at, whether the stream named
    # its capture time (False: placed by arrival), audio that came after its time (dropped)
    live_delay_ms: Annotated[int, Meta(ge=0)] | None = None
    stamped: bool | None = None
    late_ms: Annotated[int, Meta(ge=0)] | None = None


class PlaybackFailedEvent(_Event, tag="playback.failed"):
    """The play will not happen (or stopped abnormally); ``reason`` is a stable code."""

    play_id: PlayId
    broadcast_id: PlayId
    reason: Annotated[str, Meta(max_length=40)]
    detail: Annotated[str, Meta(max_length=300)] = ""


class SecurityEvent(_Event, tag="security"):
    """Something was refused: bad signature, unknown key, expired, replayed, wrong target, bad
    media."""

    reason: Annotated[str, Meta(max_length=40)]
    detail: Annotated[str, Meta(max_length=300)] = ""
    topic: Text200 = ""
    cmd_id: Annotated[str, Meta(max_length=80)] | None = None
    play_id: Annotated[str, Meta(max_length=80)] | None = None


class AlarmCode(str, enum.Enum):
    """Conditions a technician must see (and acknowledge) on the controller."""

    mains_lost = "mains_lost"
    battery_low = "battery_low"
    door_open = "door_open"
    over_temperature = "over_temperature"
    speaker_line = "speaker_line"
    mcu_unreachable = "mcu_unreachable"
    dead_air = "dead_air"  # a relay or live stream gave silence longer than its threshold
    disk_low = "disk_low"  # the agent's storage is nearly full: commands may be refused
    audio_output = "audio_output"  # the sound card cannot be opened, runs dry or loses time


class AlarmEvent(_Event, tag="alarm"):
    """A condition began (``active``) or ended. ``channel`` tells speaker lines apart."""

    code: AlarmCode
    active: bool
    channel: Annotated[int, Meta(ge=0, le=15)] | None = None
    value: float | None = None
    detail: Annotated[str, Meta(max_length=300)] = ""

    @property
    def key(self) -> str:
        return self.code.value if self.channel is None else f"{self.code.value}:{self.channel}"


class UpdateResult(str, enum.Enum):
    """How an update command ended on the device."""

    installed = "installed"  # the new release runs, online, self-check passed
    refused = "refused"  # not switched to: download, hash, install or check failed
    rolled_back = "rolled_back"  # switched to, did not come online or crashed: back again


class UpdateEvent(_Event, tag="update"):
    """The outcome of an ``update`` command; ``running`` is the version that sends it."""

    cmd_id: PlayId
    version: VersionText
    running: Annotated[str, Meta(max_length=40)]
    result: UpdateResult
    reason: Annotated[str, Meta(max_length=40)] = ""
    detail: Annotated[str, Meta(max_length=300)] = ""


AgentEvent = (
    MediaReadyEvent
    | PlaybackStartedEvent
    | PlaybackFinishedEvent
    | PlaybackFailedEvent
    | SecurityEvent
    | AlarmEvent
    | UpdateEvent
)


# --- encoding -------------------------------------------------------------------------------

_encoder = msgspec.json.Encoder()


def encode(message: Any) -> bytes:
    """A message as compact JSON."""
    return _encoder.encode(message)


def decode(data: bytes | str, type: Any) -> Any:
    """Parse and validate JSON into ``type``; raises ``msgspec.ValidationError`` or
    ``msgspec.DecodeError`` (both ``ValueError``)."""
    return msgspec.json.decode(data, type=type)


def to_builtins(message: Any) -> Any:
    """Plain dicts, lists, strings and numbers (datetimes as RFC 3339), for storing."""
    return msgspec.to_builtins(message)


def convert(obj: Any, type: Any) -> Any:
    """Validate already-parsed data (a dict from disk or the database) into ``type``."""
    return msgspec.convert(obj, type=type)


def replace(message: Any, **changes: Any) -> Any:
    """A copy of a message with some fields changed."""
    return msgspec.structs.replace(message, **changes)


Invalid = msgspec.DecodeError
"""What decoding a bad message raises (``msgspec.ValidationError`` is one); a ``ValueError``."""
