"""espeak-ng, the offline default: Northern, Central and Southern Vietnamese voices (Debian
package ``espeak-ng``; nothing is downloaded)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .engines import SpeechFailed, Voice

VOICES = (
    Voice("espeak:vi", "vi", "Giọng máy miền Bắc (ngoại tuyến)", "Northern Vietnamese (espeak-ng)"),
    Voice(
        "espeak:vi-vn-x-central",
        "vi",
        "Giọng máy miền Trung (ngoại tuyến)",
        "Central Vietnamese (espeak-ng)",
    ),
    Voice(
        "espeak:vi-vn-x-south",
        "vi",
        "Giọng máy miền Nam (ngoại tuyến)",
        "Southern Vietnamese (espeak-ng)",
    ),
)
WORDS_PER_MINUTE = 150  # espeak-ng's rate at 100 %; slower than its 175 for outdoor horns


class EspeakEngine:
    name = "espeak"

    def __init__(self, binary: str = "espeak-ng"):
        self.binary = shutil.which(binary) or binary

    def available(self) -> bool:
        return shutil.which(self.binary) is not None

    def voices(self) -> list[Voice]:
        return list(VOICES) if self.available() else []

    def synthesize(self, text: str, voice: str, rate: int, out: Path) -> Path:
        if not self.available():
            raise SpeechFailed("speech.engine_missing", engine="espeak-ng")
        speed = max(80, min(450, round(WORDS_PER_MINUTE * rate / 100)))
        try:
            proc = subprocess.run(
                [self.binary, "-v", voice, "-s", str(speed), "-b", "1", "--stdin", "-w", str(out)],
                input=text.encode(),
                capture_output=True,
                timeout=600,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise SpeechFailed("speech.engine_failed", engine="espeak-ng") from None
        if proc.returncode != 0 or not out.exists() or out.stat().st_size <= 44:
            raise SpeechFailed("speech.engine_failed", engine="espeak-ng")
        return out
