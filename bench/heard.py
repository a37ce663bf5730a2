"""The microphone check's confusion matrix: simulated plays through loudspeaker clusters
(healthy, one horn of four dead, all dead, the wrong audio; rain, wind, motorbikes, a market
at 20 to 0 dB signal-to-noise; echoes; a neighbour cluster's sound in some), each judged by
the agent's own code (edge_agent/hearing), and by Chromaprint fingerprints for comparison.

    .venv/bin/python bench/heard.py [--plays 560] [--seed 1]

Prints the verdicts per kind of fault, the detection and false-alarm rates against the
goals of issue 32, the agent's CPU per minute of audio checked and the memory it added.
Needs espeak-ng (the bulletins) and fpcalc (libchromaprint-tools); ``./run test`` installs
both.
"""

from __future__ import annotations

import argparse
import collections
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from edge_agent.hearing.features import RATE, Envelope, chime
from edge_agent.hearing.verdict import judge
from loalang.acoustics import (
    MIC_RATE,
    PLAYED_RATE,
    Fault,
    Microphone,
    Noise,
    Room,
    from_pcm,
    to_pcm,
)
from loalang.room_simulator import spoken
from protocol.messages import HeardVerdict as V

SENTENCES = (
    "Kính thưa bà con, sau đây là bản tin của đài truyền thanh xã.",
    "Sáng mai, ủy ban nhân dân xã tổ chức họp tại nhà văn hoá thôn Đông lúc tám giờ. "
    "Đề nghị các hộ gia đình cử đại diện tham dự đầy đủ, đúng giờ.",
    "Bà con lưu ý phòng chống rét cho gia súc, gia cầm. Nhiệt độ đêm nay xuống dưới mười độ.",
    "Thông báo lịch tiêm phòng cho trẻ em dưới năm tuổi vào thứ bảy tuần này tại trạm y tế.",
    "Bão số ba đang tiến vào đất liền. Đề nghị bà con chằng chống nhà cửa, không ra sông suối.",
    "Hội nông dân xã mở lớp tập huấn kỹ thuật trồng lúa vụ xuân, mời bà con đăng ký.",
    "Chiều nay mất điện từ hai giờ đến năm giờ để sửa chữa đường dây.",
    "Đội thanh niên tình nguyện sẽ dọn vệ sinh đường làng vào sáng chủ nhật.",
)
PRE_S = 0.5  # the capture opens this long before the first sample (the ALSA output's lead)
POST_S = 1.5  # and runs on this long after the last
SNRS = (20.0, 10.0, 5.0, 0.0)
NOISES = (Noise.rain, Noise.wind, Noise.motorbikes, Noise.market, Noise.quiet)
FAULTS = (Fault.ok, Fault.one_dead, Fault.all_dead, Fault.wrong)
DETECTED = {
    Fault.ok: {V.quiet, V.not_heard, V.wrong},  # a false alarm
    Fault.one_dead: {V.quiet, V.not_heard},
    Fault.all_dead: {V.not_heard, V.wrong, V.quiet},
    Fault.wrong: {V.wrong, V.not_heard},
}


def capture(mic: Microphone, played: np.ndarray, other: np.ndarray | None) -> np.ndarray:
    """The microphone's 16 kHz stream: PRE_S of ambient, the play, POST_S of ambient."""
    pad_pre, pad_post = np.zeros(int(PRE_S * PLAYED_RATE)), np.zeros(int(POST_S * PLAYED_RATE))
    x = np.concatenate([pad_pre, played, pad_post])
    n = None if other is None else np.concatenate([pad_pre, other, pad_post])[: len(x)]
    if n is not None and len(n) < len(x):
        n = np.concatenate([n, np.zeros(len(x) - len(n))])
    return mic.hear(x, n)


def envelopes(played: np.ndarray, heard: np.ndarray) -> tuple[Envelope, Envelope]:
    p, h = Envelope(PLAYED_RATE), Envelope(MIC_RATE)
    p.feed(to_pcm(played))
    h.feed(to_pcm(heard))
    return p, h


def calibrate(noise: Noise, seed: int) -> float:
    """The cluster's usual gain: the calibration chime at 30 % volume, on a calm day."""
    tone = from_pcm(chime(PLAYED_RATE)) * 0.3
    mic = Microphone(Room(noise=noise, snr_db=25.0), seed=seed)
    p, h = envelopes(tone, capture(mic, tone, None))
    j = judge(p, h, expected_lag=round(PRE_S * RATE / 320), reference_gain_db=None)
    assert j.gain_db is not None, j
    return j.gain_db


def fingerprint(pcm: np.ndarray, rate: int, tmp: Path) -> np.ndarray:
    path = tmp / "fp.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes(to_pcm(pcm))
    out = subprocess.run(
        ["fpcalc", "-raw", "-length", "600", str(path)], capture_output=True, text=True, check=False
    ).stdout  # it exits 3 at a WAV's end, yet prints
    line = next(x for x in out.splitlines() if x.startswith("FINGERPRINT="))
    return np.array([int(v) for v in line.split("=", 1)[1].split(",") if v], dtype=np.uint32)


def fp_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """1 − the bit error rate at the best offset (Chromaprint's usual comparison)."""
    best = 0.0
    for off in range(0, max(1, len(b) - len(a) + 1) + 12):
        n = min(len(a), len(b) - off)
        if n < 8:
            break
        x = np.bitwise_xor(a[:n], b[off : off + n])
        bits = np.unpackbits(x.view(np.uint8)).sum()
        best = max(best, 1 - bits / (32 * n))
    return best


AGENT_COST = """
import sys, time
sys.path.insert(0, {root!r})
def rss():  # resident now (VmRSS), in MB: the peak would hide what is added later
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
import protocol.messages, edge_agent.player  # the agent has these already
base = rss()
from edge_agent.hearing.features import Envelope, chime
from edge_agent.hearing.verdict import judge
imported = rss()
second_48k, second_16k = chime(48000, 1.0, 0.3), chime(16000, 1.0, 0.2)
ready = rss()
c0 = time.process_time()
played, heard = Envelope(48000), Envelope(16000)
heard.feed(bytes(16000))  # the half second before the first sample, and then some
for _ in range({minutes} * 60):
    played.feed(second_48k)
    heard.feed(second_16k)
heard.feed(bytes(48000))
judged = judge(played, heard, expected_lag=25, reference_gain_db=0.0)
cpu = time.process_time() - c0
peak = rss()  # the envelopes are still held here, as during a play's verdict
print(imported - base, peak - ready, cpu / {minutes})
"""


def agent_cost(minutes: int = 10) -> tuple[float, float, float]:
    """In a process of its own, as on the Pi (no numpy): the MB the hearing modules add when
    imported, the MB ``minutes`` of envelopes and a verdict add, and CPU s per minute."""
    code = AGENT_COST.format(root=str(Path(__file__).resolve().parents[1]), minutes=minutes)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), float(out[1]), float(out[2])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plays", type=int, default=560)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-chromaprint", action="store_true")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    chroma = not args.no_chromaprint and shutil.which("fpcalc") is not None
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        clips = [spoken(s, speed=150) for s in SENTENCES]
        refs = {noise: calibrate(noise, args.seed) for noise in NOISES}
        matrix: dict[Fault, collections.Counter[V]] = collections.defaultdict(collections.Counter)
        per_snr: dict[tuple[Fault, float], list[bool]] = collections.defaultdict(list)
        fp: dict[Fault, list[float]] = collections.defaultdict(list)
        cpu = audio_s = 0.0
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        combos = [(f, n, s) for f in FAULTS for n in NOISES for s in SNRS]
        for i in range(args.plays):
            fault, noise, snr = combos[i % len(combos)]
            k = rng.randrange(len(clips))
            played = clips[k]
            other = clips[(k + 1 + rng.randrange(len(clips) - 1)) % len(clips)]
            neighbour = rng.random() < 0.3
            room = Room(
                fault=fault,
                noise=noise,
                snr_db=snr,
                delay_ms=rng.uniform(10, 120),
                neighbour_db=-12.0 if neighbour else None,
            )
            mic = Microphone(room, seed=i)
            sounded = other[: len(played)] if fault == Fault.wrong else played
            if len(sounded) < len(played):
                sounded = np.concatenate([sounded, np.zeros(len(played) - len(sounded))])
            heard = capture(mic, sounded, other if neighbour else None)
            c0 = time.process_time()
            p, h = envelopes(played, heard)
            j = judge(p, h, expected_lag=round(PRE_S * RATE / 320), reference_gain_db=refs[noise])
            cpu += time.process_time() - c0
            audio_s += len(played) / PLAYED_RATE
            matrix[fault][j.verdict] += 1
            per_snr[(fault, snr)].append(j.verdict in DETECTED[fault])
            if chroma:
                fp[fault].append(
                    fp_similarity(
                        fingerprint(played, PLAYED_RATE, tmp), fingerprint(heard, MIC_RATE, tmp)
                    )
                )
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    order = list(V)
    print(f"{args.plays} simulated plays, {audio_s / 60:.1f} min of audio\n")
    print("band-energy envelopes (edge_agent/hearing), verdicts per fault:")
    print(f"{'fault':<10}" + "".join(f"{v.value:>13}" for v in order) + f"{'detected':>10}")
    for fault in FAULTS:
        row = matrix[fault]
        total = sum(row.values())
        hits = sum(row[v] for v in DETECTED[fault])
        label = "false alarm" if fault == Fault.ok else "detected"
        print(
            f"{fault.value:<10}"
            + "".join(f"{row[v]:>13}" for v in order)
            + f"{100 * hits / max(1, total):>9.1f}%  ({label})"
        )
    print("\nper signal-to-noise ratio (detected, or false alarms for ok):")
    print(f"{'fault':<10}" + "".join(f"{s:>9.0f} dB" for s in SNRS))
    for fault in FAULTS:
        cells = [per_snr[(fault, s)] for s in SNRS]
        print(
            f"{fault.value:<10}"
            + "".join(f"{100 * sum(c) / max(1, len(c)):>11.1f}%" for c in cells)
        )
    print(
        f"\nagent CPU: {cpu / (audio_s / 60):.3f} s per minute of audio checked "
        f"(features of both sides and the verdict; goal ≤ 2 s)"
    )
    print(
        f"peak RSS grew by {(rss1 - rss0) / 1024:.1f} MB over the run (the bench's numpy "
        "included; bench/agent_footprint.py measures the agent itself)"
    )
    imported, grown, per_minute = agent_cost()
    print(
        f"on the agent, alone (no numpy): importing the check adds {imported:.1f} MB; ten "
        f"minutes of envelopes and the verdict add {grown:.1f} MB more; CPU "
        f"{per_minute:.3f} s per minute of audio (goals: RSS ≤ 10 MB, CPU ≤ 2 s)"
    )
    if chroma:
        healthy = sorted(fp[Fault.ok])
        cut = healthy[max(0, int(len(healthy) * 0.01) - 1)]  # ≤ 1 % false alarms
        print(
            f"\nChromaprint (fpcalc -raw, best-offset bit agreement), threshold {cut:.3f} "
            "set for ≤ 1 % false alarms on healthy plays:"
        )
        for fault in FAULTS:
            vals = fp[fault]
            below = sum(1 for v in vals if v < cut)
            print(
                f"  {fault.value:<10} median {np.median(vals):.3f}   "
                f"below the threshold {100 * below / max(1, len(vals)):.1f}%"
            )


if __name__ == "__main__":
    main()
