"""Villages behind a weak link, for fault runs: each village is a network namespace joined to
this host by a pair of TUN devices, with a relay process between them that delays and drops
IP packets (a userspace ``tc netem``: this kernel has no netem qdisc) and can cut the link.

The agents run inside a village's namespace (``Village.command``) and reach the controller
and the broker at ``Villages.host_ip``, an address on this host's loopback that exists only
while the villages do. Traffic never leaves this machine. Needs root (``ip netns``).

    with Villages(2, delay_ms=300, loss=0.10) as villages:
        subprocess.Popen(villages[0].command([sys.executable, "-m", "..."]))
        villages[1].cut(); ...; villages[1].heal()
"""

from __future__ import annotations

import fcntl
import heapq
import os
import random
import select
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000


def available() -> str | None:
    """Why villages cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 ('ip') is not installed"
    if not Path("/dev/net/tun").exists():
        return "/dev/net/tun is missing"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


class Village:
    """One namespace and its link; ``ip`` is the village's address."""

    def __init__(
        self, prefix: str, index: int, host_ip: str, subnet: str, delay_ms: float, loss: float
    ):
        self.netns = f"{prefix}v{index}"
        self.host_tun = f"{prefix}h{index}"
        self.village_tun = f"{prefix}v{index}"
        self.ip = f"{subnet}.2"
        self.subnet = f"{subnet}.0/24"
        self.host_ip = host_ip
        self.delay_ms = delay_ms
        self.loss = loss
        self._relay: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        _ip("tuntap", "add", "dev", self.host_tun, "mode", "tun")
        _ip("tuntap", "add", "dev", self.village_tun, "mode", "tun")
        # the relay opens both devices here; one then moves into the namespace, still open
        self._relay = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.villages",
                "relay",
                self.host_tun,
                self.village_tun,
                str(self.delay_ms),
                str(self.loss),
            ],
            stdout=subprocess.PIPE,
            cwd=Path(__file__).resolve().parents[2],
            start_new_session=True,
        )
        assert self._relay.stdout is not None
        if self._relay.stdout.readline().strip() != b"ready":
            raise RuntimeError(f"the link relay of {self.netns} did not start")
        _ip("netns", "add", self.netns)
        _ip("link", "set", self.village_tun, "netns", self.netns)
        _ip("link", "set", self.host_tun, "up")
        _ip("route", "add", self.subnet, "dev", self.host_tun)
        _ip("-n", self.netns, "link", "set", "lo", "up")
        _ip("-n", self.netns, "addr", "add", f"{self.ip}/24", "dev", self.village_tun)
        _ip("-n", self.netns, "link", "set", self.village_tun, "up")
        _ip("-n", self.netns, "route", "add", f"{self.host_ip}/32", "dev", self.village_tun)

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside this village."""
        return ["ip", "netns", "exec", self.netns, *argv]

    def cut(self) -> None:
        """The link goes dead: every packet either way is dropped until ``heal``."""
        assert self._relay is not None
        self._relay.send_signal(signal.SIGUSR1)

    def heal(self) -> None:
        assert self._relay is not None
        self._relay.send_signal(signal.SIGUSR2)

    def stop(self) -> None:
        if self._relay is not None:
            self._relay.kill()
            self._relay.wait()
            self._relay = None
        for args in (("netns", "del", self.netns), ("link", "del", self.host_tun)):
            subprocess.run(["ip", *args], capture_output=True)


class Villages:
    """``count`` villages, each behind a link of ``delay_ms`` one way and ``loss`` (0..1) of
    packets dropped each way; a context manager that removes everything it made."""

    def __init__(self, count: int, delay_ms: float = 300, loss: float = 0.10):
        if not 0 < count <= 100:
            raise ValueError("between 1 and 100 villages")
        taken = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        k = random.choice([k for k in range(1, 250) if f"ll{k}h" not in taken])
        self.prefix = f"ll{k}"
        self.host_ip = f"10.77.{k}.1"
        self.villages = [
            Village(self.prefix, i, self.host_ip, f"10.{100 + i}.{k}", delay_ms, loss)
            for i in range(count)
        ]

    def __enter__(self) -> Villages:
        _ip("addr", "add", f"{self.host_ip}/32", "dev", "lo")
        try:
            for village in self.villages:
                village.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for village in self.villages:
            village.stop()
        subprocess.run(
            ["ip", "addr", "del", f"{self.host_ip}/32", "dev", "lo"], capture_output=True
        )

    def __getitem__(self, i: int) -> Village:
        return self.villages[i]

    def __len__(self) -> int:
        return len(self.villages)


# --- the relay process ----------------------------------------------------------------------


def _open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def relay(host_tun: str, village_tun: str, delay_ms: float, loss: float) -> None:
    """Carry packets between the two devices, each ``delay_ms`` late (order kept), a share
    ``loss`` dropped; SIGUSR1 cuts the link (queued packets lost too), SIGUSR2 heals it."""
    a, b = _open_tun(host_tun), _open_tun(village_tun)
    other = {a: b, b: a}
    delay = delay_ms / 1000
    state = {"cut": False}
    queue: list[tuple[float, int, int, bytes]] = []
    seq = 0

    signal.signal(signal.SIGUSR1, lambda *_: state.update(cut=True))
    signal.signal(signal.SIGUSR2, lambda *_: state.update(cut=False))
    print("ready", flush=True)
    while True:
        if state["cut"]:
            queue.clear()
        timeout = max(0.0, queue[0][0] - time.monotonic()) if queue else None
        readable, _, _ = select.select([a, b], [], [], timeout)
        for fd in readable:
            while True:
                try:
                    packet = os.read(fd, 65535)
                except BlockingIOError:
                    break
                if state["cut"] or random.random() < loss:
                    continue
                seq += 1
                heapq.heappush(queue, (time.monotonic() + delay, seq, other[fd], packet))
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, fd, packet = heapq.heappop(queue)
            try:
                os.write(fd, packet)
            except OSError:  # the far device is down (the namespace going away)
                pass


if __name__ == "__main__":
    if sys.argv[1:2] == ["relay"]:
        relay(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]))
