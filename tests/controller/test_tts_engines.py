"""The TTS engines behind their one interface: espeak-ng's three Vietnamese voices, and the
hosted-service plug-in's contract against a local HTTP server the test runs."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from controller.media.tts.engines import Engines, SpeechFailed
from controller.media.tts.espeak import EspeakEngine
from controller.media.tts.hosted import HostedEngine
from tests.support.audio import make_speech

TEXT = "Kính thưa bà con, sáng mai lúc tám giờ họp thôn tại nhà văn hoá."


def _seconds(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout)


@pytest.mark.parametrize("voice", ["espeak:vi", "espeak:vi-vn-x-central", "espeak:vi-vn-x-south"])
def test_each_espeak_voice_speaks_vietnamese_for_a_plausible_time(voice, tmp_path):
    engines = Engines([EspeakEngine()])
    out = engines.synthesize(TEXT, voice, 100, tmp_path / "out.wav")
    words = len(TEXT.split())
    # 15 words at 150 words a minute: about six seconds of speech
    assert words * 60 / 150 * 0.6 < _seconds(out) < words * 60 / 150 * 1.6
    slower = engines.synthesize(TEXT, voice, 70, tmp_path / "slow.wav")
    assert _seconds(slower) > _seconds(out) * 1.2


def test_an_unknown_voice_is_refused(tmp_path):
    with pytest.raises(SpeechFailed) as exc:
        Engines([EspeakEngine()]).synthesize(TEXT, "espeak:xx", 100, tmp_path / "x.wav")
    assert exc.value.key == "speech.unknown_voice"


class _Service(BaseHTTPRequestHandler):
    """Shaped like the Vietnamese cloud TTS APIs: an API key, JSON in, audio out."""

    audio = b""
    seen: list[dict] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append(
            dict(body=body, key=self.headers.get("api-key"), kind=self.headers.get("Content-Type"))
        )
        if self.headers.get("api-key") != "khoa-bi-mat":
            self.send_response(401)
            self.end_headers()
            return
        if body["voice"] == "loi":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error": "quota"}')
            return
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        self.send_header("Content-Length", str(len(self.audio)))
        self.end_headers()
        self.wfile.write(self.audio)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def service(tmp_path) -> Iterator[str]:
    _Service.audio = make_speech(tmp_path / "reply.wav").read_bytes()
    _Service.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Service)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/tts"
    server.shutdown()


def test_the_hosted_engine_sends_text_voice_speed_and_key_and_keeps_the_audio(service, tmp_path):
    engines = Engines([EspeakEngine(), HostedEngine(service, "khoa-bi-mat", {"ban-mai": "banmai"})])
    assert "hosted:ban-mai" in [v.id for v in engines.voices()]
    out = engines.synthesize("Xin chào bà con", "hosted:ban-mai", 120, tmp_path / "h.wav")
    assert out.read_bytes() == _Service.audio
    [call] = _Service.seen
    assert call["key"] == "khoa-bi-mat"
    assert call["kind"] == "application/json"
    assert call["body"] == {"text": "Xin chào bà con", "voice": "banmai", "speed": 1.2}


def test_the_hosted_engine_says_why_it_failed(service, tmp_path):
    wrong_key = HostedEngine(service, "sai", {"ban-mai": "banmai"})
    with pytest.raises(SpeechFailed) as exc:
        wrong_key.synthesize("Xin chào", "ban-mai", 100, tmp_path / "a.wav")
    assert exc.value.key == "speech.engine_refused"
    assert exc.value.params["status"] == 401
    not_audio = HostedEngine(service, "khoa-bi-mat", {"loi": "loi"})
    with pytest.raises(SpeechFailed) as exc:
        not_audio.synthesize("Xin chào", "loi", 100, tmp_path / "b.wav")
    assert exc.value.key == "speech.engine_failed"
    nowhere = HostedEngine("http://127.0.0.1:9/tts", "k", {"x": "x"}, timeout_s=2)
    with pytest.raises(SpeechFailed) as exc:
        nowhere.synthesize("Xin chào", "x", 100, tmp_path / "c.wav")
    assert exc.value.key == "speech.engine_unreachable"
    assert not (tmp_path / "a.wav").exists()
    assert not (tmp_path / "b.wav").exists()
