"""One action for an emergency: a siren or chime, then the message (a text read aloud or a
recording), to every village unless told otherwise, optionally repeated; and "Thông báo nhầm",
a ready-made correction to the same loudspeakers. Both wait for a second person and are on the
devices before anyone confirms."""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import Priority

from ..auth import Principal
from ..db.models import Media
from ..domain.errors import Conflict, Invalid
from .broadcasting import BroadcastQueries, BroadcastRequest, BroadcastService
from .media import MediaService
from .repeats import RepeatService
from .speech import SpeechPart, SpeechService

Intro = Literal["siren", "chime", "none"]

CORRECTION_TEXT = (
    "Xin bà con chú ý. Thông báo khẩn cấp vừa phát là thông báo nhầm. "
    "Không có tình huống khẩn cấp. Xin bà con bỏ qua thông báo đó."
)

# ffmpeg sources for the built-in sounds (generated once, stored like any bulletin)
_SOUNDS = {
    "siren": "aevalsrc='0.6*sin(2*PI*t*(650+250*sin(2*PI*0.5*t)))':s=48000:d=4",
    "chime": "aevalsrc='0.5*(sin(2*PI*880*t)*lt(t,0.6)+sin(2*PI*660*t)*between(t,0.6,1.2)"
    "+sin(2*PI*520*t)*gt(t,1.2))*exp(-2*mod(t,0.6))':s=48000:d=1.9",
}


@dataclass(frozen=True)
class EmergencyRequest:
    title: str
    targets: list[str]
    text: str | None = None
    voice: str | None = None
    media_sha256: str | None = None  # a recording instead of a text
    intro: Intro = "siren"
    repeat_every_s: int | None = None
    repeat_for_s: int | None = None


class EmergencyService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        broadcasts: BroadcastService,
        queries: BroadcastQueries,
        repeats: RepeatService,
        speech: SpeechService,
        media: MediaService,
        ffmpeg: str = "ffmpeg",
    ):
        self._sessions = sessions
        self._broadcasts = broadcasts
        self._queries = queries
        self._repeats = repeats
        self._speech = speech
        self._media = media
        self._ffmpeg = ffmpeg

    def sound(self, who: Principal, name: str) -> str:
        """The built-in siren or chime (made by ffmpeg the first time, then stored)."""
        if name not in _SOUNDS:
            raise Invalid("emergency.unknown_intro", intro=name)
        filename = f"builtin:{name}"
        with self._sessions() as session:
            found = session.scalar(select(Media.sha256).where(Media.original_filename == filename))
        if found:
            return found
        with tempfile.TemporaryDirectory(prefix="loalang-sound-") as tmp:
            path = Path(tmp) / f"{name}.wav"
            subprocess.run(
                [
                    self._ffmpeg,
                    "-v",
                    "error",
                    "-f",
                    "lavfi",
                    "-i",
                    _SOUNDS[name],
                    "-ac",
                    "1",
                    str(path),
                ],
                check=True,
                timeout=60,
            )
            media, _ = self._media.ingest(
                who, path, filename, "Còi báo động" if name == "siren" else "Chuông báo"
            )
        return media.sha256

    def correction_media(self, who: Principal) -> str:
        """ "Thông báo nhầm" in the station's voice: spoken once, then reused."""
        return self._speech.spoken(who, SpeechPart("vi", CORRECTION_TEXT), "Thông báo nhầm").sha256

    def send(self, who: Principal, req: EmergencyRequest) -> str:
        """Make the bulletin (intro, then the message) and send it as an emergency: it waits
        for a second person, already prepared on the devices; the correction is made now too,
        so "Thông báo nhầm" is ready when it is needed."""
        if not req.targets:
            raise Invalid("broadcast.no_targets")
        sha256 = self.audio(who, req.title, req.text, req.voice, req.media_sha256, req.intro)
        self.correction_media(who)
        request = BroadcastRequest(
            media_sha256=sha256,
            targets=list(req.targets),
            priority=Priority.emergency,
            title=req.title,
        )
        if req.repeat_every_s:
            return self._repeats.create(who, request, req.repeat_every_s, req.repeat_for_s)
        return self._broadcasts.create(request, who)

    def audio(
        self,
        who: Principal,
        title: str,
        text: str | None,
        voice: str | None = None,
        media_sha256: str | None = None,
        intro: Intro = "siren",
    ) -> str:
        """An emergency's audio: the siren or chime, then a recording or the text read aloud
        (also what a pinned message is made of)."""
        if media_sha256:
            language = self._media.get(media_sha256).language
            if intro == "none":
                return media_sha256  # the recording as it is
            message = SpeechPart(language, media_sha256=media_sha256)
        elif text and text.strip():
            message = SpeechPart("vi", text.strip(), voice)
        else:
            raise Invalid("speech.empty_text")
        self._speech.check([message])
        parts = [] if intro == "none" else [SpeechPart("vi", media_sha256=self.sound(who, intro))]
        media, _ = self._speech.render(who, [*parts, message], title)
        return media.sha256

    def correct(self, who: Principal, broadcast_id: str) -> str:
        """ "Thông báo nhầm": stop what the false emergency still plays (its repetitions too)
        and send the ready-made correction to the same loudspeakers (two people, as every
        emergency)."""
        original = self._queries.get(broadcast_id)
        if original.priority != Priority.emergency.value:
            raise Conflict("emergency.not_an_emergency")
        first = self._queries.get(original.series_id) if original.series_id else original
        try:
            self._broadcasts.cancel(first.id, who)
        except Conflict:
            pass  # over already: the correction still goes out
        request = BroadcastRequest(
            media_sha256=self.correction_media(who),
            targets=list(original.targets),
            priority=Priority.emergency,
            title=f"Đính chính: {first.title}"[:200],
        )
        return self._broadcasts.create(request, who)
