"""A paced sound device per loudspeaker on a machine with no sound card, recorded back.

A PulseAudio server of the test's own runs one null sink, the *room*, with a channel per
loudspeaker; each loudspeaker's ALSA device (``pulse:loaN`` through libasound2-plugins) is a
mono remap of one of those channels. The null sink consumes audio at the pace of the system
clock like a sound card, and its monitor is recorded by ``parec`` as one multichannel stream:
every loudspeaker on one sample clock, so the skew between them is read from the audio that
came out to the sample, and the recording's own start is placed on the wall clock from the
arrival times of its chunks (``t0`` below: the earliest arrival minus what had been heard).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 48000
MAX_CHANNELS = 32  # PulseAudio's limit per sink (PA_CHANNELS_MAX)


@dataclass(frozen=True)
class Onset:
    channel: int
    at: float  # wall-clock seconds when the first loud sample left the device


class SoundRoom:
    """PulseAudio with ``speakers`` paced devices; ``device(i)`` names one for ALSA."""

    def __init__(self, speakers: int, workdir: Path | None = None):
        if not 1 <= speakers <= MAX_CHANNELS:
            raise ValueError(f"1 to {MAX_CHANNELS} loudspeakers per room")
        for tool in ("pulseaudio", "parec"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} is not installed (run ./run test to install it)")
        self.speakers = speakers
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="loalang-room-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket = self.dir / "native"
        self.server = f"unix:{self.socket}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._rec: subprocess.Popen[bytes] | None = None
        self._data = bytearray()
        self._marks: list[tuple[float, int]] = []  # (arrival time, frames received by then)
        self._reader: threading.Thread | None = None

    def device(self, i: int) -> str:
        return f"pulse:loa{i}"

    @property
    def env(self) -> dict[str, str]:
        """What a process needs to reach this room's server (libpulse reads it)."""
        return {"PULSE_SERVER": self.server}

    def start(self) -> SoundRoom:
        channels = ",".join(f"aux{i}" for i in range(self.speakers))
        lines = [
            f"load-module module-native-protocol-unix auth-anonymous=1 socket={self.socket}",
            f"load-module module-null-sink sink_name=room channels={self.speakers} "
            f"channel_map={channels} rate={RATE}",
        ]
        lines += [
            f"load-module module-remap-sink sink_name=loa{i} master=room channels=1 "
            f"master_channel_map=aux{i} channel_map=mono remix=no"
            for i in range(self.speakers)
        ]
        script = self.dir / "room.pa"
        script.write_text("\n".join(lines) + "\n")
        env = dict(os.environ, HOME=str(self.dir), XDG_RUNTIME_DIR=str(self.dir))
        self._proc = subprocess.Popen(
            [
                "pulseaudio",
                "-n",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--use-pid-file=no",
                "--disable-shm=yes",
                "--realtime=no",
                "-F",
                str(script),
                f"--log-target=file:{self.dir / 'pulse.log'}",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while not self._ready():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                log = (self.dir / "pulse.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"PulseAudio did not start:\n{log}")
            time.sleep(0.1)
        return self

    def _ready(self) -> bool:
        if not self.socket.exists():
            return False
        out = subprocess.run(
            ["pactl", "list", "short", "sinks"],
            env=dict(os.environ, PULSE_SERVER=self.server),
            capture_output=True,
            text=True,
        )
        return out.returncode == 0 and f"loa{self.speakers - 1}\t" in out.stdout

    def record(self) -> None:
        """Start recording every loudspeaker (the room's monitor) from now on."""
        channels = ",".join(f"aux{i}" for i in range(self.speakers))
        self._rec = subprocess.Popen(
            [
                "parec",
                "-d",
                "room.monitor",
                "--raw",
                "--format=s16le",
                f"--rate={RATE}",
                f"--channels={self.speakers}",
                f"--channel-map={channels}",
                "--latency-msec=5",
            ],
            env=dict(os.environ, PULSE_SERVER=self.server),
            stdout=subprocess.PIPE,
        )
        frame = 2 * self.speakers

        def read() -> None:
            assert self._rec is not None
            assert self._rec.stdout is not None
            fd = self._rec.stdout.fileno()
            while chunk := os.read(fd, 1 << 16):
                arrived = time.time()
                self._data += chunk
                self._marks.append((arrived, len(self._data) // frame))

        self._reader = threading.Thread(target=read, name="room-recorder", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 10
        while len(self._marks) < 20 and time.monotonic() < deadline:  # t0 from many chunks
            time.sleep(0.05)

    def recording(self) -> tuple[float, np.ndarray]:
        """(t0, samples[frame, loudspeaker]): wall-clock time of the first frame, the audio."""
        if not self._marks:
            raise RuntimeError("nothing recorded (is the room recording?)")
        t0 = min(arrived - frames / RATE for arrived, frames in list(self._marks))
        frame = 2 * self.speakers
        raw = bytes(self._data[: len(self._data) // frame * frame])
        return t0, np.frombuffer(raw, dtype="<i2").reshape(-1, self.speakers)

    def onsets(self, after: float, threshold: int = 3000) -> list[Onset | None]:
        """Per loudspeaker, when it first played a sample louder than ``threshold`` after
        the wall-clock time ``after`` (None: it did not)."""
        t0, audio = self.recording()
        first = max(0, int((after - t0) * RATE))
        result: list[Onset | None] = []
        for ch in range(self.speakers):
            loud = np.nonzero(np.abs(audio[first:, ch].astype(np.int32)) > threshold)[0]
            result.append(Onset(ch, t0 + (first + loud[0]) / RATE) if len(loud) else None)
        return result

    def stop(self) -> None:
        for proc in (self._rec, self._proc):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if self._reader is not None:
            self._reader.join(timeout=2)

    def __enter__(self) -> SoundRoom:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
