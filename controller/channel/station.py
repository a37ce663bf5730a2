"""The station's channel: one process, apart from the controller, that sounds what the
loudspeakers sound, 100 ms at a time on the station's clock, to the station's Icecast (the
``/kenh.ogg`` mount: stream-only receivers, listeners) and to the recorder (the archive).

The programme is read from the database every second on a thread of its own; stored
bulletins are decoded ahead of their start; streams are opened just before theirs. Nothing
the pacer does waits on the database, a decoder, Icecast or the disk: each sink has a queue,
so Icecast going away costs the listeners, never the archive, and a full disk costs the
archive, never the listeners."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..streams.sources import Ffmpeg, encoder
from .airtime import AirItem, on_air, with_replays
from .audio import SILENCE, EncoderLink, Sink, StreamAudio, decode_file, pcm_frame
from .programme import Programme
from .recorder import FRAME_NS, Recorder

log = logging.getLogger(__name__)

READ_EVERY_S = 1.0
STREAM_EARLY = timedelta(seconds=1.5)  # a stream is opened this long before its start
TICK_NS = 100_000_000  # five frames at a time: a fifth of the wake-ups, 100 ms more delay at most
LATE_NS = 1_000_000_000  # a pacer this far behind skips ahead (the recorder notes the gap)


class StationChannel:
    def __init__(
        self,
        programme: Programme,
        media_path: Callable[[str], Path],
        recorder: Recorder | None,
        icecast_target: str | None,
        ffmpeg: str = "ffmpeg",
        authorise: Callable[[str], tuple[str, str]] = lambda url: (url, ""),
    ):
        self._programme = programme
        self._media_path = media_path
        self._ffmpeg = ffmpeg
        self._authorise = authorise  # a station URL with the channel's log-in (and its secret)
        self._items: list[AirItem] = []
        self._pcm: dict[str, Future[bytes]] = {}
        self._streams: dict[str, StreamAudio] = {}
        self._decoders = ThreadPoolExecutor(2, thread_name_prefix="channel-decode")
        self._stop = threading.Event()
        self.recorder = recorder
        self._record = Sink("recorder", recorder.write) if recorder else None
        self.icecast = (
            EncoderLink("icecast", lambda: self._encoder(icecast_target))
            if icecast_target
            else None
        )
        self._air = Sink("icecast", self._to_icecast) if self.icecast else None
        self.frames = 0

    def _encoder(self, target: str) -> Ffmpeg:
        return encoder(self._ffmpeg, target, time.time_ns())

    def _to_icecast(self, frame: bytes, due_ns: int) -> None:
        assert self.icecast is not None
        self.icecast.write(frame, due_ns)
        if self.recorder is not None:
            self.recorder.stream_up = self.icecast.up

    # --- running ---------------------------------------------------------------------------

    def run(self) -> None:
        """Until ``stop``: read the programme, pace the frames."""
        reader = threading.Thread(target=self._read_loop, name="channel-programme", daemon=True)
        reader.start()
        origin = (time.time_ns() // TICK_NS + 1) * TICK_NS  # (hours begin on a tick)
        n = 0
        while not self._stop.is_set():
            due = origin + n * TICK_NS
            wait = (due - time.time_ns()) / 1e9
            if wait > 0 and self._stop.wait(wait):
                break
            if time.time_ns() - due > LATE_NS:  # the machine stalled: rejoin the clock
                n = (time.time_ns() - origin) // TICK_NS + 1
                continue
            chunk = b"".join(
                self.frame_at(datetime.fromtimestamp((due + k * FRAME_NS) / 1e9, UTC))
                for k in range(TICK_NS // FRAME_NS)
            )
            if self._air is not None:
                self._air.put(chunk, due)
            if self._record is not None:
                self._record.put(chunk, due)
            n += 1
            self.frames += TICK_NS // FRAME_NS
        self._shutdown()

    def stop(self) -> None:
        self._stop.set()

    def frame_at(self, at: datetime) -> bytes:
        """The 20 ms the loudspeakers sound from ``at`` (silence between plays)."""
        now = on_air(self._items, at)
        if now is None:
            return SILENCE
        item = now.item
        if item.stream:
            stream = self._streams.get(item.play_id)
            return stream.frame() if stream is not None else SILENCE
        pcm = self._pcm.get(item.source)
        if pcm is None or not pcm.done() or pcm.exception() is not None:
            return SILENCE  # not decoded in time (said when it failed)
        return pcm_frame(pcm.result(), now.offset_s)

    def _read_loop(self) -> None:
        while not self._stop.is_set():
            now = datetime.now(UTC)
            items = with_replays(self._programme.read(now))
            self._prepare(items, now)
            self._items = items
            self._stop.wait(READ_EVERY_S)

    def _prepare(self, items: list[AirItem], now: datetime) -> None:
        """Decode what is coming, open the streams about to sound, drop what is over."""
        wanted_pcm = {i.source for i in items if not i.stream and i.end > now}
        wanted_pcm |= self._programme.coming
        for sha in wanted_pcm - self._pcm.keys():
            log.info("bulletin %s coming: decoding it", sha[:12])
            self._pcm[sha] = self._decoders.submit(self._decode, sha)
        for sha in self._pcm.keys() - wanted_pcm:
            del self._pcm[sha]
        live = {i.play_id: i for i in items if i.stream and i.start - STREAM_EARLY <= now < i.end}
        for play_id in live.keys() - self._streams.keys():
            url, secret = self._authorise(live[play_id].source)
            log.info("stream of %s coming: opening %s", play_id, live[play_id].source)
            self._streams[play_id] = StreamAudio(self._ffmpeg, url, secret)
        for play_id in self._streams.keys() - live.keys():
            self._streams.pop(play_id).close()

    def _decode(self, sha: str) -> bytes:
        try:
            return decode_file(self._ffmpeg, self._media_path(sha))
        except Exception as exc:
            log.error("channel: bulletin %s cannot be decoded: %s", sha[:12], exc)
            raise

    def _shutdown(self) -> None:
        for stream in self._streams.values():
            stream.close()
        for sink in (self._air, self._record):
            if sink is not None:
                sink.close()
        if self.icecast is not None:
            self.icecast.close()
        if self.recorder is not None:
            self.recorder.close()
        self._decoders.shutdown(wait=False, cancel_futures=True)
