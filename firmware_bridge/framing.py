"""Frames on the serial line to the cluster's microcontroller. Pure: no I/O.

A frame is a packet encoded with COBS (so it contains no zero byte) followed by one 0x00
delimiter. A packet is ``version | type | seq | body | crc16`` where the CRC is
CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF; ``binascii.crc_hqx``) over everything before
it, big-endian. The decoder resynchronises on the next 0x00 after garbage, a cut cable or a
corrupt frame, and reports what it dropped.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

from cobs import cobs

PROTOCOL_VERSION = 1
MAX_PACKET = 250  # bytes before COBS; the MCU's receive buffer is 256
HEADER = 3
CRC_BYTES = 2


class FrameError(ValueError):
    """A frame that had to be dropped; ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class Packet:
    type: int
    seq: int
    body: bytes = b""
    version: int = PROTOCOL_VERSION


def crc16(data: bytes) -> int:
    return binascii.crc_hqx(data, 0xFFFF)


def encode(packet: Packet) -> bytes:
    """The bytes to write on the serial line for one packet."""
    if not (0 <= packet.type <= 255 and 0 <= packet.seq <= 255 and 0 <= packet.version <= 255):
        raise ValueError("type, seq and version are single bytes")
    raw = bytes((packet.version, packet.type, packet.seq)) + packet.body
    if len(raw) + CRC_BYTES > MAX_PACKET:
        raise ValueError(f"packet of {len(raw) + CRC_BYTES} bytes exceeds {MAX_PACKET}")
    raw += crc16(raw).to_bytes(2, "big")
    return bytes(cobs.encode(raw)) + b"\x00"


def decode_frame(frame: bytes) -> Packet:
    """One frame without its delimiter → packet, or FrameError."""
    if not frame:
        raise FrameError("empty")
    try:
        raw = cobs.decode(frame)
    except cobs.DecodeError as exc:
        raise FrameError("cobs", str(exc)) from None
    if len(raw) < HEADER + CRC_BYTES:
        raise FrameError("short", f"{len(raw)} bytes")
    if len(raw) > MAX_PACKET:
        raise FrameError("too_long", f"{len(raw)} bytes")
    if crc16(raw[:-CRC_BYTES]) != int.from_bytes(raw[-CRC_BYTES:], "big"):
        raise FrameError("crc")
    return Packet(version=raw[0], type=raw[1], seq=raw[2], body=raw[HEADER:-CRC_BYTES])


class FrameDecoder:
    """Feed it whatever the serial port returned; get packets and the errors met on the way."""

    def __init__(self, max_frame: int = 2 * MAX_PACKET):
        self._buffer = bytearray()
        self._max_frame = max_frame
        self._discarding = False

    def feed(self, data: bytes) -> list[Packet | FrameError]:
        out: list[Packet | FrameError] = []
        for byte in data:
            if byte == 0:
                if self._discarding:
                    self._discarding = False
                elif self._buffer:
                    try:
                        out.append(decode_frame(bytes(self._buffer)))
                    except FrameError as err:
                        out.append(err)
                self._buffer.clear()
                continue
            if self._discarding:
                continue
            self._buffer.append(byte)
            if len(self._buffer) > self._max_frame:  # no delimiter in sight: line noise
                out.append(FrameError("overflow", f"more than {self._max_frame} bytes"))
                self._buffer.clear()
                self._discarding = True
        return out

    def reset(self) -> None:
        """Forget a partial frame (the port was closed and reopened)."""
        self._buffer.clear()
        self._discarding = False
