"""Messages between the agent and the cluster MCU, and their bodies. Pure: no I/O.

Requests (host → MCU) have types 0x01–0x3F; the MCU answers each with ``type | 0x80`` and
the same sequence id, or with ERROR. Events (MCU → host, unsolicited) have types 0xC0–0xFF.
Multi-byte integers are little-endian (what the MCUs are). See docs/firmware-protocol.md.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field, fields
from typing import ClassVar

from .framing import Packet


class CodecError(ValueError):
    """A packet whose type is unknown or whose body does not fit its type."""


class InputSource(enum.IntEnum):
    ip = 0
    fm = 1
    aux = 2


class ErrorCode(enum.IntEnum):
    unknown_type = 1
    bad_body = 2
    bad_version = 3
    out_of_range = 4
    busy = 5
    hardware = 6


ALL_CHANNELS = 0xFF


@dataclass(frozen=True)
class Message:
    TYPE: ClassVar[int]
    FORMAT: ClassVar[str] = "<"

    def body(self) -> bytes:
        return struct.pack(self.FORMAT, *self._fields())

    def _fields(self) -> tuple[int, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))

    @classmethod
    def parse(cls, body: bytes) -> Message:
        try:
            return cls(*struct.unpack(cls.FORMAT, body))
        except (struct.error, ValueError, TypeError) as exc:
            raise CodecError(f"{cls.__name__}: {exc}") from None


# --- requests --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ping(Message):
    """Watchdog heartbeat; an MCU that hears none for 10 s switches the amplifiers off."""

    TYPE = 0x01


@dataclass(frozen=True)
class GetStatus(Message):
    TYPE = 0x02


@dataclass(frozen=True)
class SetAmplifier(Message):
    TYPE = 0x03
    FORMAT = "<BB"
    channel: int  # 0-based, or ALL_CHANNELS
    on: int

    def __post_init__(self) -> None:
        if not (0 <= self.channel <= 255 and self.on in (0, 1)):
            raise ValueError("channel is a byte, on is 0 or 1")


@dataclass(frozen=True)
class SetInput(Message):
    TYPE = 0x04
    FORMAT = "<B"
    source: int

    def __post_init__(self) -> None:
        InputSource(self.source)


@dataclass(frozen=True)
class SetVolume(Message):
    TYPE = 0x05
    FORMAT = "<B"
    level: int  # percent

    def __post_init__(self) -> None:
        if not 0 <= self.level <= 100:
            raise ValueError("volume is 0–100")


@dataclass(frozen=True)
class TuneFm(Message):
    TYPE = 0x06
    FORMAT = "<H"
    freq_10khz: int  # 10370 = 103.70 MHz

    def __post_init__(self) -> None:
        if not 6400 <= self.freq_10khz <= 10800:
            raise ValueError("FM frequency outside 64–108 MHz")


@dataclass(frozen=True)
class GetInfo(Message):
    TYPE = 0x07


# --- answers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pong(Message):
    TYPE = 0x81
    FORMAT = "<I"
    uptime_s: int


@dataclass(frozen=True)
class Status(Message):
    """Every reading at once; ``line_ma`` has one current per speaker channel."""

    TYPE = 0x82
    HEAD: ClassVar[str] = "<BHhBBBBB"
    mains: int
    battery_mv: int
    temperature_dc: int  # tenths of a degree Celsius
    door_open: int
    amplifiers: int  # bit mask, bit n = channel n powered
    source: int
    volume: int
    line_ma: tuple[int, ...] = field(default_factory=tuple)

    def body(self) -> bytes:
        head = struct.pack(
            self.HEAD,
            self.mains,
            self.battery_mv,
            self.temperature_dc,
            self.door_open,
            self.amplifiers,
            self.source,
            self.volume,
            len(self.line_ma),
        )
        return head + struct.pack(f"<{len(self.line_ma)}H", *self.line_ma)

    @classmethod
    def parse(cls, body: bytes) -> Status:
        size = struct.calcsize(cls.HEAD)
        try:
            *head, count = struct.unpack(cls.HEAD, body[:size])
            if len(body) != size + 2 * count:
                raise CodecError(f"Status: {count} channels need {size + 2 * count} bytes")
            mains, battery, temperature, door, amplifiers, source, volume = head
            return cls(
                mains,
                battery,
                temperature,
                door,
                amplifiers,
                source,
                volume,
                tuple(struct.unpack(f"<{count}H", body[size:])),
            )
        except struct.error as exc:
            raise CodecError(f"Status: {exc}") from None


@dataclass(frozen=True)
class Ok(Message):
    """The answer to a SET_* or TUNE request: done. Its type is the request's | 0x80."""

    TYPE = 0x83
    request_type: int = 0x03

    def body(self) -> bytes:
        return b""


@dataclass(frozen=True)
class Info(Message):
    TYPE = 0x87
    protocol: int
    channels: int
    firmware: str

    def body(self) -> bytes:
        return bytes((self.protocol, self.channels)) + self.firmware.encode()[:200]

    @classmethod
    def parse(cls, body: bytes) -> Info:
        if len(body) < 2:
            raise CodecError("Info: too short")
        try:
            return cls(body[0], body[1], body[2:].decode())
        except UnicodeDecodeError:
            raise CodecError("Info: firmware version is not UTF-8") from None


@dataclass(frozen=True)
class Error(Message):
    TYPE = 0xBF
    FORMAT = "<BB"
    code: int
    request_type: int


# --- events ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MainsChanged(Message):
    TYPE = 0xC1
    FORMAT = "<BH"
    present: int
    battery_mv: int


@dataclass(frozen=True)
class DoorChanged(Message):
    TYPE = 0xC2
    FORMAT = "<B"
    open: int


@dataclass(frozen=True)
class OverTemperature(Message):
    TYPE = 0xC3
    FORMAT = "<h"
    temperature_dc: int


@dataclass(frozen=True)
class LineFault(Message):
    """A powered channel whose speaker line carries no (or too much) current."""

    TYPE = 0xC4
    FORMAT = "<BHB"
    channel: int
    current_ma: int
    fault: int  # 1 open line, 2 short


@dataclass(frozen=True)
class Booted(Message):
    TYPE = 0xC5
    FORMAT = "<B"
    reason: int  # 0 power-on, 1 watchdog, 2 brown-out, 3 software


REQUESTS: dict[int, type[Message]] = {
    m.TYPE: m for m in (Ping, GetStatus, SetAmplifier, SetInput, SetVolume, TuneFm, GetInfo)
}
EVENTS: dict[int, type[Message]] = {
    m.TYPE: m for m in (MainsChanged, DoorChanged, OverTemperature, LineFault, Booted)
}
ANSWERS: dict[int, type[Message]] = {
    Pong.TYPE: Pong,
    Status.TYPE: Status,
    Info.TYPE: Info,
    Error.TYPE: Error,
}
SET_REQUESTS = {SetAmplifier.TYPE, SetInput.TYPE, SetVolume.TYPE, TuneFm.TYPE}


def to_packet(message: Message, seq: int) -> Packet:
    type_ = message.request_type | 0x80 if isinstance(message, Ok) else message.TYPE
    return Packet(type=type_, seq=seq, body=message.body())


def from_packet(packet: Packet) -> Message:
    """The message a packet carries, or CodecError."""
    t = packet.type
    if t in REQUESTS:
        return REQUESTS[t].parse(packet.body)
    if t in EVENTS:
        return EVENTS[t].parse(packet.body)
    if t in ANSWERS:
        return ANSWERS[t].parse(packet.body)
    if t & 0x7F in SET_REQUESTS and t & 0x80:
        if packet.body:
            raise CodecError("an OK answer has no body")
        return Ok(request_type=t & 0x7F)
    raise CodecError(f"unknown message type 0x{t:02x}")
