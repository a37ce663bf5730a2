"""Ogg pages to Opus packets, each with the granule position it ends at (RFC 3533, RFC 7845).

Pure: bytes in, packets out. A listener that joins a live stream mid-way gets the stream's
headers first (Icecast keeps them) and then whole pages; the granule of a page is the end of
its last packet, so each packet's own end is that minus the samples of the packets after it
(read from each packet's TOC byte). A packet cut at the start of what we received is dropped.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

CAPTURE = b"OggS"
HEADER = struct.Struct("<4sBBqIIIB")  # capture, version, flags, granule, serial, seq, crc, nsegs
CONTINUED, FIRST, LAST = 0x01, 0x02, 0x04
MAX_PAGE = HEADER.size + 255 + 255 * 255

# Opus frame sizes in samples at 48 kHz, by the TOC's configuration number (RFC 6716 §3.1)
_SILK = (480, 960, 1920, 2880)
_HYBRID = (480, 960)
_CELT = (120, 240, 480, 960)


def opus_samples(packet: bytes) -> int:
    """How many 48 kHz samples an Opus packet decodes to (0 for an empty or bad packet)."""
    if not packet:
        return 0
    toc = packet[0]
    config = toc >> 3
    if config < 12:
        size = _SILK[config % 4]
    elif config < 16:
        size = _HYBRID[config % 2]
    else:
        size = _CELT[config % 4]
    code = toc & 0x03
    if code == 0:
        frames = 1
    elif code in (1, 2):
        frames = 2
    else:
        if len(packet) < 2:
            return 0
        frames = packet[1] & 0x3F
    return size * frames


@dataclass(frozen=True)
class OpusHead:
    channels: int
    pre_skip: int
    input_rate: int


def opus_head(packet: bytes) -> OpusHead | None:
    """The identification header, or None if ``packet`` is not one."""
    if len(packet) < 19 or not packet.startswith(b"OpusHead"):
        return None
    channels = packet[9]
    pre_skip, rate = struct.unpack_from("<HI", packet, 10)
    return OpusHead(channels, pre_skip, rate)


def opus_tags(packet: bytes) -> dict[str, str] | None:
    """The comment header as ``{NAME: value}`` (names upper-cased), or None if it is not one."""
    if not packet.startswith(b"OpusTags"):
        return None
    try:
        (vendor_len,) = struct.unpack_from("<I", packet, 8)
        pos = 12 + vendor_len
        (count,) = struct.unpack_from("<I", packet, pos)
        pos += 4
        tags: dict[str, str] = {}
        for _ in range(min(count, 256)):
            (size,) = struct.unpack_from("<I", packet, pos)
            text = packet[pos + 4 : pos + 4 + size].decode("utf-8", errors="replace")
            pos += 4 + size
            name, sep, value = text.partition("=")
            if sep:
                tags[name.upper()] = value
        return tags
    except struct.error:
        return None


@dataclass(frozen=True)
class Packet:
    serial: int
    data: bytes
    end_granule: int | None  # None when the page gave no position (-1) to count from
    first: bool  # the first packet of a logical stream (its headers follow)


@dataclass
class OggReader:
    """Feed it bytes as they arrive; it yields whole packets as their pages complete."""

    _buf: bytearray = field(default_factory=bytearray)
    _partial: bytearray = field(default_factory=bytearray)
    _partial_ok: bool = False  # the partial packet began in a page we have
    skipped_bytes: int = 0  # bytes that were not a page (lost sync)

    def feed(self, data: bytes) -> Iterator[Packet]:
        self._buf += data
        while True:
            page = self._next_page()
            if page is None:
                return
            yield from page

    def _next_page(self) -> list[Packet] | None:
        buf = self._buf
        start = buf.find(CAPTURE)
        if start < 0:
            keep = len(buf) - 3 if len(buf) > 3 else 0
            self.skipped_bytes += keep
            del buf[:keep]
            return None
        if start:
            self.skipped_bytes += start
            del buf[:start]
        if len(buf) < HEADER.size:
            return None
        _, version, flags, granule, serial, _, _, nsegs = HEADER.unpack_from(buf)
        if version != 0:
            del buf[:4]
            self.skipped_bytes += 4
            return []
        table_end = HEADER.size + nsegs
        if len(buf) < table_end:
            return None
        lacing = bytes(buf[HEADER.size : table_end])
        end = table_end + sum(lacing)
        if len(buf) < end:
            return None
        body = bytes(buf[table_end:end])
        del buf[:end]
        return self._packets(flags, granule, serial, lacing, body)

    def _packets(
        self, flags: int, granule: int, serial: int, lacing: bytes, body: bytes
    ) -> list[Packet]:
        if not flags & CONTINUED or flags & FIRST:
            self._partial.clear()  # what was pending did not go on: drop it
            self._partial_ok = True
        whole: list[bytes] = []
        pos = 0
        for value in lacing:
            self._partial += body[pos : pos + value]
            pos += value
            if value < 255:
                if self._partial_ok:
                    whole.append(bytes(self._partial))
                self._partial.clear()
                self._partial_ok = True
        if not whole:
            return []
        ends: list[int | None] = [None] * len(whole)
        if granule >= 0:
            at = granule
            for i in range(len(whole) - 1, -1, -1):
                ends[i] = at
                at -= opus_samples(whole[i])
        first = bool(flags & FIRST)
        return [
            Packet(serial, data, end, first and i == 0)
            for i, (data, end) in enumerate(zip(whole, ends, strict=False))
        ]
