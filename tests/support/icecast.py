"""A real Icecast 2 server per test (the relay and live stream server of DESIGN.md), fed by
ffmpeg sources, for the agent's stream playback."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .mosquitto import free_port, wait_port

PASSWORD = "hackme-test"


class Icecast:
    def __init__(self, workdir: Path):
        binary = shutil.which("icecast2")
        if binary is None:
            raise RuntimeError("icecast2 is not installed (run ./run test to install it)")
        self.binary = binary
        self.port = free_port()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        # Icecast drops root privileges before it opens its logs: pytest's directories are
        # private to root, so the logs go to a directory of their own.
        logdir = self.logdir = Path(tempfile.mkdtemp(prefix="loalang-icecast-"))
        os.chmod(logdir, 0o777)
        owner = (
            "<changeowner><user>nobody</user><group>nogroup</group></changeowner>"
            if os.geteuid() == 0
            else ""
        )
        self.conf = workdir / "icecast.xml"
        # A small burst: listeners get ~2 s of audio at once, so the tests see drops quickly.
        self.conf.write_text(f"""<icecast>
  <limits><sources>8</sources><source-timeout>3</source-timeout>
    <burst-on-connect>1</burst-on-connect><burst-size>8192</burst-size></limits>
  <authentication><source-password>{PASSWORD}</source-password>
    <admin-user>admin</admin-user><admin-password>{PASSWORD}</admin-password></authentication>
  <hostname>127.0.0.1</hostname>
  <listen-socket><port>{self.port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
  <paths><basedir>/usr/share/icecast2</basedir><logdir>{logdir}</logdir>
    <webroot>/usr/share/icecast2/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot>
  </paths>
  <logging><errorlog>error.log</errorlog><loglevel>2</loglevel></logging>
  <security><chroot>0</chroot>{owner}</security>
</icecast>
""")
        self.proc: subprocess.Popen[bytes] | None = None
        self.sources: dict[str, subprocess.Popen[bytes]] = {}

    def url(self, mount: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mount}"

    def mount_up(self, mount: str) -> bool:
        """A listener gets the mount now (its source is connected)."""
        import httpx

        try:
            with httpx.stream("GET", self.url(mount), timeout=2) as r:
                return r.status_code == 200
        except httpx.HTTPError:
            return False

    def start(self) -> Icecast:
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)
        return self

    def feed(self, mount: str, frequency: int, clicks_every_s: float | None = None) -> None:
        """An ffmpeg source sending a sine tone (Ogg/Opus, in real time) to ``mount``;
        frequency 0: silence (a studio link that is up but carries nothing: dead air);
        ``clicks_every_s``: 50 ms bursts of the tone that often, silence between."""
        # (a hiss at -66 dBFS, as a studio feed that carries nothing has: pure digital zeros
        # would be Opus packets of a few bytes that Ogg holds back for seconds)
        source = (
            f"sine=frequency={frequency}:sample_rate=48000"
            if frequency
            else "anoisesrc=color=pink:amplitude=0.0005:sample_rate=48000"
        )
        if clicks_every_s:
            source = (
                f"aevalsrc=exprs=0.6*sin(2*PI*{frequency}*t)*lt(mod(t\\,{clicks_every_s})"
                "\\,0.05):sample_rate=48000"
            )
        self.sources[mount] = subprocess.Popen(
            [
                "ffmpeg",
                "-v",
                "error",
                "-nostdin",
                "-re",
                "-f",
                "lavfi",
                "-i",
                source,
                "-ac",
                "1",
                "-c:a",
                "libopus",
                "-b:a",
                "32k",
                "-content_type",
                "application/ogg",
                "-f",
                "ogg",
                f"icecast://source:{PASSWORD}@127.0.0.1:{self.port}/{mount}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def cut(self, mount: str) -> None:
        """The source goes away (studio link lost): listeners of the mount are dropped."""
        proc = self.sources.pop(mount)
        proc.kill()
        proc.wait()

    def stop(self) -> None:
        for mount in list(self.sources):
            self.cut(mount)
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.logdir, ignore_errors=True)
