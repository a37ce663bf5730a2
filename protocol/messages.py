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
from typing import Annotated, Any, Literal

import msgspec
import msgspec.structs
from msgspec import Meta

# the building blocks (protocol/base.py) and the health report (protocol/health.py), named
# here too: every module reads its messages from here, as before they moved
from .base import (
    WORD_PATTERN as WORD_PATTERN,
)
from .base import (
    Event as _Event,
)
from .base import (
    Ident as Ident,
)
from .base import (
    Line200 as Line200,
)
from .base import (
    Message as Message,
)
from .base import (
    Percent as Percent,
)
from .base import (
    PlayId as PlayId,
)
from .base import (
    Sha256 as Sha256,
)
from .base import (
    Tagged as Tagged,
)
from .base import (
    Target as Target,
)
from .base import (
    Text200 as Text200,
)
from .base import (
    UtcDatetime as UtcDatetime,
)
from .base import (
    _utc,
)
from .base import (
    one_line as one_line,
)
from .base import (
    utcnow as utcnow,
)
from .device_events import (
    HeardVerdict as HeardVerdict,
)
from .device_events import (
    HearingCalibratedEvent as HearingCalibratedEvent,
)
from .device_events import (
    HouseholdControlsEvent as HouseholdControlsEvent,
)
from .device_events import (
    PlaybackHeardEvent as PlaybackHeardEvent,
)
from .health import (
    AgentCounters as AgentCounters,
)
from .health import (
    HardwareReadings as HardwareReadings,
)
from .health import (
    HealthReport as HealthReport,
)
from .health import (
    LineCheck as LineCheck,
)
from .health import (
    ModemReadings as ModemReadings,
)
from .health import (
    NetworkReadings as NetworkReadings,
)


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


# --- commands (the signed body) -------------------------------------------------------------


class MediaRef(Message):
    """An immutable audio file the agent fetches over HTTP and checks against ``sha256``."""

    sha256: Sha256
    url: Annotated[str, Meta(max_length=500, pattern=r"^(/|https?://)[\x21-\x7e]*$")]
    """absolute, or a path on the controller; printable ASCII (URLs are percent-encoded)"""
    size: Annotated[int, Meta(ge=1, le=2**40)]
    duration_ms: Annotated[int, Meta(ge=1, le=2**40)]
    mime: Annotated[str, Meta(max_length=40, pattern=r"^[a-z]+/[a-z0-9.+-]+$")] = "audio/ogg"


# an http(s) stream, or ``fm:<kHz>``: the cluster's own FM tuner (protocol/urls.py)
StreamUrl = Annotated[str, Meta(max_length=500, pattern=r"^(https?://[\x21-\x7e]+|fm:[0-9]{5,6})$")]


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


class Playable(Message, kw_only=True, omit_defaults=True):
    """What is played, and when: a stored file (``media``) or a live relay (``stream``),
    exactly one; a command and a plan entry both hold it. ``receiver_floor``: an emergency's
    least volume on a home receiver, whatever its household set (a station setting)."""

    play_id: PlayId
    start_at: UtcDatetime
    title: Line200 = ""
    priority: Priority = Priority.normal
    volume: Percent | None = None
    media: MediaRef | None = None
    stream: StreamRef | None = None
    receiver_floor: Percent | None = None

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


PinnedId = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,15}$")]
"""A pinned message's id: what an SMS order names (``protocol/sms.py``), so short and plain."""


class PinnedMessage(Message):
    """One stored emergency message: its id, a title for reports, its audio."""

    id: PinnedId
    title: Line200
    media: MediaRef


class PinCommand(Tagged, tag="pin"):
    """The station's pinned messages, all of them (``version`` counts the sets): kept on disk
    until the next set, never evicted, played on a signed SMS when the data link is gone."""

    version: Annotated[int, Meta(ge=1)]
    messages: Annotated[list[PinnedMessage], Meta(max_length=32)]
    # the station's floor for home receivers, as a broadcast emergency carries it: an SMS
    # played with the data link gone is just as loud indoors (None: the agent's default)
    receiver_floor: Percent | None = None


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


class CalibrateHearingCommand(Tagged, tag="calibrate_hearing"):
    """Play the calibration chime at ``volume`` and keep what the microphone heard of it as
    the cluster's usual level (edge_agent/hearing)."""

    volume: Percent = 30


CommandBody = (
    CalibrateHearingCommand
    | PlayCommand
    | PrepareCommand
    | CancelCommand
    | StopCommand
    | SetZonesCommand
    | SetVolumeCommand
    | PlanCommand
    | TrustKeyCommand
    | RetireKeyCommand
    | UpdateCommand
    | PinCommand
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


class SmsOutcome(str, enum.Enum):
    accepted = "accepted"  # valid: acted on (a play follows with play id ``sms-<seq>``)
    refused = "refused"  # ``reason``: protocol/sms.py's read_sms codes


class SmsEvent(_Event, tag="sms"):
    """An SMS order the modem received, reported when the data link allows."""

    outcome: SmsOutcome
    received_at: UtcDatetime
    seq: Annotated[int, Meta(ge=0)] | None = None
    action: Annotated[str, Meta(max_length=10)] | None = None  # play, stop, fm
    message: Annotated[str, Meta(max_length=20)] | None = None
    reason: Annotated[str, Meta(max_length=40)] = ""
    sender: Annotated[str, Meta(max_length=24)] = ""  # as the network said (not trusted)
    play_id: PlayId | None = None


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
    modem = "modem"  # the SMS modem does not answer, answers garbage or has lost its SIM
    # the microphone did not hear the play as usual (detail: a HeardVerdict; value: dB)
    hearing = "hearing"
    microphone = "microphone"  # no microphone, unplugged, silent or clipped: nothing checked


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
    HouseholdControlsEvent
    | PlaybackHeardEvent
    | HearingCalibratedEvent
    | MediaReadyEvent
    | PlaybackStartedEvent
    | PlaybackFinishedEvent
    | PlaybackFailedEvent
    | SecurityEvent
    | AlarmEvent
    | UpdateEvent
    | SmsEvent
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
