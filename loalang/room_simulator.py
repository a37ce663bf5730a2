"""The demo's and the tests' microphones: for each simulated cluster, what its agent's file
output plays (the WAV it is writing, read as it grows) goes through ``acoustics.Microphone``
— its horns, faults, echoes, its neighbour and the weather — into a FIFO the agent reads as
its capture device (``[microphone] backend = "fifo"``), at the pace of a sound card.

    python -m loalang.room_simulator ROOMS.json

ROOMS.json: ``[{"name", "output_dir", "fifo", "fault", "noise", "snr_db", "neighbour",
"neighbour_db"}, ...]`` (fault, noise: acoustics.Fault, acoustics.Noise; neighbour: another
room's name). A room's fault can be changed while it runs by writing the fault's name to
``FIFO.fault`` (tests: a horn dies).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import subprocess
import sys
import termios
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .acoustics import PLAYED_RATE, Fault, Microphone, Noise, Room, from_pcm, to_pcm

TICK_S = 0.1
WAV_HEADER = 44  # the standard library's wave module writes a plain 44-byte header
WRONG_TEXT = (
    "Chương trình ca nhạc theo yêu cầu. Mời quý vị cùng nghe bài hát Quê hương, "
    "do ca sĩ Thu Hà trình bày. Tiếp theo là bản tin thời tiết của ngày hôm qua."
)


@dataclass
class RoomSpec:
    name: str
    output_dir: Path
    fifo: Path
    fault: Fault = Fault.ok
    noise: Noise = Noise.rain
    snr_db: float = 15.0
    neighbour: str | None = None
    neighbour_db: float = -12.0
    fault_after_s: float = 0.0  # healthy until then (the demo: calibrated, then a horn dies)


@dataclass
class _Cluster:
    spec: RoomSpec
    mic: Microphone
    files: dict[Path, int] = field(default_factory=dict)  # WAV → bytes read
    queue: np.ndarray = field(default_factory=lambda: np.zeros(0))
    fd: int = -1
    wrong_at: int = 0
    fault: Fault = Fault.ok
    full_at: int | None = None  # bytes in the FIFO when a write last found it full


def spoken(text: str, speed: int = 175) -> np.ndarray:
    """Vietnamese speech (espeak-ng) as 48 kHz floats at the station's loudness (−16 LUFS):
    the bulletins of the bench and the tests, and the simulator's wrong audio."""
    voice = subprocess.run(
        ["espeak-ng", "-v", "vi", "-s", str(speed), "--stdout", text],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", "-", "-ac", "1", "-ar", "48000",
         "-af", "loudnorm=I=-16:TP=-2", "-f", "s16le", "-"],
        input=voice, check=True, capture_output=True,
    ).stdout  # fmt: skip
    return from_pcm(raw)


def _wrong_clip() -> np.ndarray:
    """Something the cluster should not be playing: a song announcement, spoken."""
    if shutil.which("espeak-ng") is None:
        return np.random.default_rng(7).normal(0, 0.1, PLAYED_RATE * 5)
    return spoken(WRONG_TEXT)


class RoomSimulator:
    def __init__(self, specs: list[RoomSpec]):
        self.started = time.time()
        self._wrong = _wrong_clip()
        self.clusters = {
            s.name: _Cluster(s, Microphone(self._room(s, Fault.ok), seed=i), fault=Fault.ok)
            for i, s in enumerate(specs)
        }
        self._stop = threading.Event()

    @staticmethod
    def _room(spec: RoomSpec, fault: Fault) -> Room:
        return Room(
            fault=fault,
            noise=spec.noise,
            snr_db=spec.snr_db,
            neighbour_db=spec.neighbour_db if spec.neighbour else None,
        )

    def _open(self, c: _Cluster) -> None:
        if c.fd >= 0:
            return
        path = c.spec.fifo
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            os.mkfifo(path)
        # read-write: never blocks, and the pipe stays open while the agent is not reading
        c.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)

    def _played(self, c: _Cluster, samples: int) -> np.ndarray:
        """The next ``samples`` of what the cluster's output wrote (silence when nothing)."""
        try:
            names = sorted(c.spec.output_dir.glob("*.wav"))
        except OSError:
            names = []
        for path in names:
            if path not in c.files:
                try:
                    fresh = path.stat().st_mtime >= self.started - 1
                except OSError:
                    continue
                c.files[path] = WAV_HEADER if fresh else -1
        chunks = [c.queue]
        for path, at in list(c.files.items()):
            if at < 0:
                continue
            try:
                with open(path, "rb") as fh:
                    fh.seek(at)
                    data = fh.read()
            except OSError:
                continue
            data = data[: len(data) // 2 * 2]
            if path.with_suffix(".json").exists():  # closed: the header now counts frames
                c.files[path] = -1
            else:
                c.files[path] = at + len(data)
            if data:
                chunks.append(from_pcm(data))
        queue = np.concatenate(chunks)
        if len(queue) > 3 * samples:  # fell behind (a slow tick): catch up
            queue = queue[-2 * samples :]
        out, c.queue = queue[:samples], queue[samples:]
        if len(out) < samples:
            out = np.concatenate([out, np.zeros(samples - len(out))])
        return out

    def _set_fault(self, c: _Cluster) -> None:
        wanted = c.spec.fifo.with_suffix(".fault")
        try:
            fault = Fault(wanted.read_text().strip())
        except (OSError, ValueError):
            fault = c.spec.fault if time.time() >= self.started + c.spec.fault_after_s else Fault.ok
        if fault != c.fault:
            c.fault = fault
            c.mic = Microphone(self._room(c.spec, fault))

    def _sounded(self, c: _Cluster, played: np.ndarray) -> np.ndarray:
        if c.fault != Fault.wrong or not np.any(np.abs(played) > 1e-3):
            return played
        n = len(played)
        idx = (c.wrong_at + np.arange(n)) % len(self._wrong)
        c.wrong_at = (c.wrong_at + n) % len(self._wrong)
        return self._wrong[idx]

    def tick(self) -> None:
        n = int(PLAYED_RATE * TICK_S)
        played = {name: self._played(c, n) for name, c in self.clusters.items()}
        for name, c in self.clusters.items():
            self._set_fault(c)
            self._open(c)
            if c.full_at is not None:  # nobody read since the pipe filled: spare the model
                if _queued(c.fd) >= c.full_at:
                    continue
                c.full_at = None
            other = played.get(c.spec.neighbour or "")
            heard = c.mic.hear(self._sounded(c, played[name]), other)
            try:
                os.write(c.fd, to_pcm(heard))
            except OSError as exc:
                if exc.errno != errno.EAGAIN:  # a full pipe: nobody is listening, drop it
                    raise
                c.full_at = _queued(c.fd)

    def run(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            self.tick()
            due += TICK_S
            delay = due - time.monotonic()
            if delay < -1.0:
                due = time.monotonic()
            elif delay > 0:
                self._stop.wait(delay)

    def stop(self) -> None:
        self._stop.set()

    def start(self) -> RoomSimulator:
        threading.Thread(target=self.run, name="rooms", daemon=True).start()
        return self


def _queued(fd: int) -> int:
    """Bytes waiting in the FIFO (fewer than when it filled: the agent's microphone reads)."""
    try:
        return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, bytes(4)), sys.byteorder)
    except OSError:
        return -1


def load(path: Path) -> list[RoomSpec]:
    return load_specs(json.loads(path.read_text()))


def load_specs(rooms: list[dict[str, Any]]) -> list[RoomSpec]:
    return [
        RoomSpec(
            name=r["name"],
            output_dir=Path(r["output_dir"]),
            fifo=Path(r["fifo"]),
            fault=Fault(r.get("fault", "ok")),
            noise=Noise(r.get("noise", "rain")),
            snr_db=float(r.get("snr_db", 15.0)),
            neighbour=r.get("neighbour"),
            neighbour_db=float(r.get("neighbour_db", -12.0)),
            fault_after_s=float(r.get("fault_after_s", 0.0)),
        )
        for r in rooms
    ]


def main() -> None:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        raise SystemExit(2)
    RoomSimulator(load(Path(sys.argv[1]))).run()


if __name__ == "__main__":
    main()
