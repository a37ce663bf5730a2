"""The station's live stream played on the station's timeline (``live_timeline.py``).

A reader thread listens to the Ogg/Opus stream over HTTP (the device's own credentials),
decodes each packet with libopus and puts it on a ``TimelineBuffer`` by the sample number it
was captured at. The player reads by where its sink will be heard: sample ``heard − delay``.
Reconnects on a drop; what the broadcast lost comes out as silence, counted in the report.
"""

from __future__ import annotations

import base64
import http.client
import logging
import socket
import ssl
import threading
import time
from datetime import datetime, timedelta
from urllib.parse import unquote, urlsplit

from protocol.urls import without_credentials as shown

from .live_timeline import RATE, TimelineBuffer, origin_ns, sample_number, sample_of
from .ogg import OggReader, opus_head, opus_samples, opus_tags
from .opus import OpusDecoder, OpusError
from .stream import DEAD_AIR_S, RETRY_PAUSE_S, DeadAir

log = logging.getLogger(__name__)

READ_BYTES = 4096
DUE_GUARD_S = 0.02  # stop waiting for audio this long before it is due at the sink
# what one read gives at most: the player asks for 100 ms, but the newest 20 ms need not wait
# for the 80 after them, so the delay can be smaller by that much
READ_MAX = RATE // 50


class StampedStream:
    """``read(n)``: the audio captured ``delay_s`` before the sink will play it, or silence."""

    def __init__(
        self,
        url: str,
        duration_s: float,
        volume: int | None,
        delay_s: float,
        io_timeout_s: float = 5.0,
        tls: ssl.SSLContext | None = None,
    ):
        self._url = url  # may carry the device's credentials: never logged as is
        self._volume = volume
        self._delay = round(delay_s * RATE)
        self._io_timeout = io_timeout_s
        self._tls = tls
        self._remaining = int(duration_s * RATE)
        self._buffer = TimelineBuffer()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._conn: http.client.HTTPConnection | None = None
        self._due0: float | None = None  # monotonic time the cursor's first sample is heard
        self._taken = 0
        self._dead = DeadAir(int(DEAD_AIR_S * RATE) * 2)
        self.audio_bytes = 0
        self.silence_switches = 0
        self.urls_played: list[str] = []
        self.stamped: bool | None = None  # the stream named its origin (False: arrival time)
        self.drops = 0
        self._errors: list[str] = []
        self._thread = threading.Thread(target=self._run, name="stamped-stream", daemon=True)
        self._thread.start()

    # --- the player's side ------------------------------------------------------------------

    def align(self, heard_at: datetime, clock_offset_s: float = 0.0) -> None:
        """The next sample read is heard at ``heard_at`` (this device's clock), which is
        ``heard_at + clock_offset_s`` in true time: the cursor goes ``delay`` before it."""
        true_heard = heard_at + timedelta(seconds=clock_offset_s)
        with self._cond:
            self._buffer.cursor = sample_of(true_heard) - self._delay
        self._due0 = time.monotonic() + (heard_at.timestamp() - time.time())
        self._taken = 0

    def read(self, size: int) -> bytes:
        count = min(size // 2, self._remaining, READ_MAX)
        if count <= 0:
            return b""
        if self._buffer.cursor is None:  # not aligned: play from what is here now
            self.align(datetime.now().astimezone())
        assert self._due0 is not None
        due = self._due0 + self._taken / RATE - DUE_GUARD_S
        with self._cond:
            while not self._buffer.covers(count) and not self._stop.is_set():
                left = due - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            found = self._buffer.found
            pcm = self._buffer.take(count)
            found = self._buffer.found - found
        self._taken += count
        self._remaining -= count
        self.audio_bytes += found * 2
        self._count_silence(pcm, found == count)
        return pcm

    @property
    def urls(self) -> list[str]:
        return [self._url]

    @property
    def silent_bytes(self) -> int:
        return self._dead.bytes

    @property
    def silent_run(self) -> int:
        """The silence played just now, in bytes (gaps in the stream are not counted)."""
        return self._dead.run

    @property
    def late_ms(self) -> int:
        """Audio that arrived after its time to be heard (dropped)."""
        return round(self._buffer.late * 1000 / RATE)

    def error(self) -> str:
        return "; ".join(self._errors[-3:]) or "no audio from the live stream"

    def close(self) -> None:
        self._stop.set()
        conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def _count_silence(self, pcm: bytes, whole: bool) -> None:
        """Dead air: stream audio that stays silent (gaps are counted apart, as missing)."""
        if whole:
            self._dead.feed(pcm)
        else:
            self._dead.reset()

    # --- the reader thread ------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                got = self._listen()
            except (OSError, http.client.HTTPException, OpusError) as exc:
                got = 0
                if not self._stop.is_set():
                    self._errors.append(f"{shown(self._url)}: {exc}"[:200])
            if self._stop.is_set():
                return
            if got:
                self.drops += 1
                log.info("live stream %s dropped; reconnecting", shown(self._url))
            self._stop.wait(RETRY_PAUSE_S)

    def _connect(self) -> http.client.HTTPResponse:
        parts = urlsplit(self._url)
        host, port = parts.hostname or "", parts.port
        if parts.scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, port, timeout=self._io_timeout, context=self._tls
            )
        else:
            conn = http.client.HTTPConnection(host, port, timeout=self._io_timeout)
        headers = {"User-Agent": "loalang-agent", "Icy-MetaData": "0"}
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        self._conn = conn
        conn.request(
            "GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers
        )
        resp = conn.getresponse()
        if resp.status != 200:
            conn.close()
            raise OSError(f"HTTP {resp.status} {resp.reason}")
        return resp

    def _listen(self) -> int:
        """Read one connection to its end; returns the audio bytes it gave."""
        resp = self._connect()
        reader = OggReader()
        decoder: OpusDecoder | None = None
        pre_skip, origin, expect, next_end, got = 0, None, "head", None, 0
        in_time = False  # the server's burst of old audio on connecting is not "late"
        try:
            while not self._stop.is_set():
                data = resp.read1(READ_BYTES)
                if not data:
                    return got
                for packet in reader.feed(data):
                    if packet.first:
                        expect, next_end = "head", None
                    if expect == "head":
                        head = opus_head(packet.data)
                        if head is not None:
                            pre_skip, expect = head.pre_skip, "tags"
                            if decoder is not None:
                                decoder.close()
                            decoder = OpusDecoder(self._volume)
                        continue
                    if expect == "tags":
                        tags = opus_tags(packet.data) or {}
                        stamp = origin_ns(tags)
                        self.stamped = stamp is not None
                        origin = sample_number(stamp) if stamp is not None else None
                        expect = "audio"
                        continue
                    assert decoder is not None
                    samples = opus_samples(packet.data)
                    end = packet.end_granule
                    if end is None:
                        end = (next_end or 0) + samples
                    next_end = end
                    if origin is None:  # unstamped: as if captured when it arrived
                        origin = sample_number(time.time_ns()) - (end - pre_skip)
                    pcm = decoder.decode(packet.data)
                    first = origin + end - pre_skip - len(pcm) // 2
                    if not got:
                        self.urls_played.append(self._url)
                    got += len(pcm)
                    with self._cond:
                        cursor = self._buffer.cursor
                        if cursor is not None and first + len(pcm) // 2 > cursor:
                            in_time = True
                        self._buffer.put(first, pcm, count_late=in_time)
                        self._cond.notify_all()
            return got
        finally:
            if decoder is not None:
                decoder.close()
            resp.close()
            if self._conn is not None:
                self._conn.close()
