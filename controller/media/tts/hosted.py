"""A hosted TTS service as a plug-in, shaped like the Vietnamese cloud services: an HTTPS API
that takes the text and a voice with an API key and answers with the audio.

    POST {url}   headers: api-key: KEY, Content-Type: application/json
    body:        {"text": "...", "voice": "banmai", "speed": 1.0}
    answer:      200 with the audio (audio/mpeg, audio/wav, audio/ogg) — or an error status

Only the contract is tested here (against a local server the test starts); nothing is sent
anywhere unless ``LOALANG_TTS_HOSTED_URL`` is set.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from .engines import SpeechFailed, Voice

MAX_BYTES = 200 * 1024 * 1024


class HostedEngine:
    name = "hosted"

    def __init__(
        self, url: str, api_key: str | None, voices: dict[str, str], timeout_s: float = 120.0
    ):
        self.url = url
        self._api_key = api_key or ""
        self._voices = dict(voices)  # our name → the service's voice id
        self._timeout = timeout_s

    def voices(self) -> list[Voice]:
        return [
            Voice(
                f"hosted:{name}", "vi", f"{name} (dịch vụ trực tuyến)", f"{name} (hosted service)"
            )
            for name in self._voices
        ]

    def synthesize(self, text: str, voice: str, rate: int, out: Path) -> Path:
        body = json.dumps(
            {"text": text, "voice": self._voices.get(voice, voice), "speed": round(rate / 100, 2)},
            ensure_ascii=False,
        ).encode()
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "api-key": self._api_key,
                "Content-Type": "application/json",
                "Accept": "audio/*",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                kind = response.headers.get("Content-Type", "")
                if not kind.startswith("audio/"):
                    raise SpeechFailed("speech.engine_failed", engine="hosted")
                data = response.read(MAX_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise SpeechFailed("speech.engine_refused", engine="hosted", status=exc.code) from None
        except (urllib.error.URLError, OSError):
            raise SpeechFailed("speech.engine_unreachable", engine="hosted") from None
        if not data or len(data) > MAX_BYTES:
            raise SpeechFailed("speech.engine_failed", engine="hosted")
        out.write_bytes(data)
        return out
