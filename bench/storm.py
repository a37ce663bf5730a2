"""The storm run: 50 real agents in villages (network namespaces), each with a modem simulator
on a pty, the station's own modem, and an SMS network between them (3–10 s a message, 5 % lost;
the controller's resend is the only retry). Then:

1. **Data links cut.** An emergency is prepared everywhere, the data link of every village but
   the last is cut, and a second person confirms it: the cut clusters are reached by SMS (the
   automatic fallback), the last village over MQTT. Figures: confirmation → first sound per
   cluster (p50/p99/max), how many SMS went out, and that none went to a cluster whose link
   was up.
2. **Mutated SMS.** Every order the network carried, mutated (a character changed, cut short,
   fields swapped, another target, sent again) and delivered to every cut cluster: 0 plays.
3. **CAP within a second.** Links healed, an alert on an automatic feed whose words name the
   pinned message: ``POST /api/cap`` → first sound on every cluster (p50/p99/max), and the
   time the answer took.

    .venv/bin/python bench/storm.py                   # 50 agents in 5 villages
    .venv/bin/python bench/storm.py --agents 10 --villages 2

Needs root (network namespaces; ``tests/support/villages.py``). Prints the figures; exits 1
when a cluster never sounded, a mutated SMS played, or an SMS went to a connected cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.scratch import scratch
from tests.support import agent_group

STATION = "+84200000000"
CAP_TOKEN = "storm-feed-token-0123456789"


def phone(i: int) -> str:
    return f"+849{i:08d}"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def figures(values: list[float]) -> str:
    return (
        f"p50 {statistics.median(values):6.2f} s  p99 {pct(values, 99):6.2f} s  "
        f"max {max(values):6.2f} s  (n={len(values)})"
    )


def mutations(text: str, rng: random.Random) -> list[str]:
    """Ways an order goes wrong on its way or in an attacker's hands."""
    fields = text.split(" ")
    i = rng.randrange(len(text))
    changed = text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1 :]
    swapped = " ".join([*fields[:4], fields[5], fields[4], *fields[6:]])
    other = " ".join([fields[0], fields[1], "Dffffffff", *fields[3:]])
    stop = " ".join([fields[0], "S", fields[2], "-", *fields[4:]])
    return [changed, text[: rng.randrange(10, len(text) - 1)], swapped, other, stop, text]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--villages", type=int, default=5, help="the last keeps its link")
    parser.add_argument("--per-process", type=int, default=10)
    parser.add_argument("--delay-ms", type=float, default=80, help="one way, before the cut")
    parser.add_argument("--sms-delay", type=float, nargs=2, default=(3.0, 10.0))
    parser.add_argument("--sms-loss", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=30)
    args = parser.parse_args()

    from tests.support import villages as villages_mod

    if (why := villages_mod.available()) is not None:
        print(f"cannot run: {why}")
        return 2
    tmp = scratch("loalang-storm-")
    t0 = time.time()
    problems: list[str] = []
    out = Storm(args, tmp, problems).run()
    print(
        f"\nLoa Làng storm run — {args.agents} agents in {args.villages} villages "
        f"({args.villages - 1} cut), SMS {args.sms_delay[0]:.0f}–{args.sms_delay[1]:.0f} s and "
        f"{args.sms_loss:.0%} lost, {platform.machine()} {os.cpu_count()} cores, "
        f"{time.time() - t0:.0f} s in all"
    )
    for line in out:
        print(f"  {line}")
    for p in problems:
        print(f"  PROBLEM: {p}")
    return 1 if problems else 0


class Storm:
    def __init__(self, args: argparse.Namespace, tmp: Path, problems: list[str]):
        self.args = args
        self.tmp = tmp
        self.problems = problems
        self.lines: list[str] = []

    def run(self) -> list[str]:
        from firmware_bridge.modem_simulator import ModemSimulator, SmsNetwork
        from tests.support.audio import make_speech
        from tests.support.mosquitto import free_port
        from tests.support.stack import Stack
        from tests.support.villages import Villages

        a = self.args
        self.network = SmsNetwork(delay_s=tuple(a.sms_delay), loss=a.sms_loss, seed=a.seed)
        self.modems = {"station": ModemSimulator(self.tmp / "modems" / "station").start()}
        self.network.attach(STATION, self.modems["station"])
        speech = make_speech(self.tmp / "storm.wav", "Bão mạnh sắp đổ bộ. Bà con sơ tán ngay.")
        procs: list[subprocess.Popen[bytes]] = []
        with Villages(a.villages, a.delay_ms, 0.0) as villages:
            stack = Stack(
                self.tmp,
                free_port(),
                broker="mosquitto",
                http_host=villages.host_ip,
                mqtt_tls_host=villages.host_ip,
                mqtt_tls_port=free_port(),
                sms_modem_port=str(self.modems["station"].port),
                cap_feeds={"auto": {"token": CAP_TOKEN, "policy": "auto"}},
            ).start()
            try:
                self.devices = self._provision(stack, villages, procs)
                self._pin(stack, speech)
                self._warm_up(stack)
                self._cut_and_confirm(stack, villages, speech)
                self._mutated(stack)
                self._cap(stack, villages)
            finally:
                agent_group.stop(procs)
                stack.stop()
                for modem in self.modems.values():
                    modem.stop()
        return self.lines

    # --- setting up ---------------------------------------------------------------------

    def _provision(self, stack, villages, procs) -> dict[str, int]:
        from tests.support.stack import wait_for

        a = self.args
        r = stack.api.post(
            "/api/zones", json={"id": "xa", "name": "Cả xã", "geocodes": ["xa=VN-XA-0001"]}
        )
        assert r.status_code == 201, r.text
        devices: dict[str, int] = {}
        from firmware_bridge.modem_simulator import ModemSimulator

        for i in range(a.agents):
            device, v = f"loa-{i:03d}", i % a.villages
            modem = ModemSimulator(self.tmp / "modems" / device).start()
            self.modems[device] = modem
            self.network.attach(phone(i), modem)
            stack.register(device, ["xa"], modem={"port": str(modem.port), "poll_s": 30})
            stack.config_data[device]["mqtt"]["keepalive_s"] = 10
            r = stack.api.put(f"/api/devices/{device}/phone", json={"phone": phone(i)})
            assert r.status_code == 200, r.text
            devices[device] = v
        procs += agent_group.launch_in_villages(
            stack.config_data, devices, villages, a.per_process, self.tmp
        )
        started = time.time()
        wait_for(
            lambda: self._online(stack) == len(devices),
            timeout=240,
            interval=0.5,
            what="every agent online",
        )
        self.lines.append(f"{len(devices)} agents online in {time.time() - started:.1f} s")
        return devices

    @staticmethod
    def _online(stack) -> int:
        return sum(d["status"] == "online" for d in stack.api.get("/api/devices").json())

    def _pin(self, stack, speech: Path) -> None:
        from tests.support.stack import wait_for

        self.media = stack.upload(speech, title="Bão — sơ tán ngay")
        r = stack.api.put(
            "/api/pinned/bao",
            json={
                "title": "Bão — sơ tán ngay",
                "media_sha256": self.media["sha256"],
                "cap_words": ["bão"],
            },
        )
        assert r.status_code == 200, r.text
        started = time.time()
        wait_for(
            lambda: all(d["current"] for d in stack.api.get("/api/pinned").json()["devices"]),
            timeout=180,
            interval=1,
            what="every cluster holding the pinned message",
        )
        self.lines.append(
            f"pinned message on every cluster's disk in {time.time() - started:.1f} s"
        )

    def _warm_up(self, stack) -> None:
        """A day's bulletin first, as a station has before any storm: the emergency lead is
        measured from the fleet's acknowledgements (1.5 s until there are some)."""
        b = stack.broadcast(self.media["sha256"], ["all"])
        stack.wait_states(b["id"], {"played"}, timeout=120)

    def _sounds(self, stack, play: str | None = None, prefix: str = "") -> dict[str, datetime]:
        """Each cluster's first play start of ``play`` (or of any play id with ``prefix``),
        from its file output's sidecars on disk (no report needed: cut links report later)."""
        first: dict[str, datetime] = {}
        for device in self.devices:
            for meta in stack.configs[device].output_dir.glob("*.json"):
                m = json.loads(meta.read_text())
                if (play and m["play_id"] == play) or (prefix and m["play_id"].startswith(prefix)):
                    at = datetime.fromisoformat(m["actual_start"])
                    first[device] = min(first.get(device, at), at)
        return first

    def _plays(self, stack) -> int:
        return sum(len(list(stack.configs[d].output_dir.glob("*.json"))) for d in self.devices)

    # --- 1. the links cut ----------------------------------------------------------------

    def _cut_and_confirm(self, stack, villages, speech: Path) -> None:
        from protocol.messages import utcnow
        from tests.support.stack import wait_for

        a = self.args
        lan = stack.person("lan", "broadcaster")
        b = lan.post(
            "/api/broadcasts",
            json={
                "media_sha256": self.media["sha256"],
                "targets": ["all"],
                "priority": "emergency",
            },
        ).json()
        wait_for(
            lambda: all(
                d["state"] == "media_ready" for d in stack.get_broadcast(b["id"])["deliveries"]
            ),
            timeout=120,
            what="the emergency prepared everywhere",
        )
        self.cut = {d for d, v in self.devices.items() if v < a.villages - 1}
        for v in range(a.villages - 1):
            villages[v].cut()
        time.sleep(1.0)  # (the packets already in flight)
        sms_before = len(self.network.sent)
        confirmed_at = utcnow()
        r = stack.person("chu-tich", "approver").post(f"/api/broadcasts/{b['id']}/confirm")
        assert r.status_code == 200, r.text

        def everyone() -> dict[str, float] | None:
            over_mqtt = self._sounds(stack, play=b["id"])
            by_sms = self._sounds(stack, prefix="sms-")
            got = {d: at for d, at in {**by_sms, **over_mqtt}.items()}
            if len(got) < len(self.devices):
                return None
            return {d: (at - confirmed_at).total_seconds() for d, at in got.items()}

        try:
            delays = wait_for(everyone, timeout=120, interval=0.5, what="every cluster sounding")
        except AssertionError:
            heard = set(self._sounds(stack, play=b["id"])) | set(self._sounds(stack, prefix="sms-"))
            self.problems.append(f"never sounded: {sorted(set(self.devices) - heard)}")
            return
        over_mqtt = set(self._sounds(stack, play=b["id"]))
        sent = self.network.sent[sms_before:]
        to = [t for _, t, _ in sent if t != STATION]
        connected_phones = {phone(int(d[4:])) for d in self.devices if d not in self.cut}
        if wrong := sorted(set(to) & connected_phones):
            self.problems.append(f"SMS sent to clusters whose link was up: {wrong}")
        if not_by_mqtt := sorted((set(self.devices) - self.cut) - over_mqtt):
            self.problems.append(f"connected clusters that did not play over MQTT: {not_by_mqtt}")
        cut_delays = [delays[d] for d in self.cut]
        self.lines.append(
            f"links cut: confirmation → first sound, {len(self.cut)} clusters by SMS: "
            + figures(cut_delays)
        )
        self.lines.append(
            f"           {len(self.devices) - len(self.cut)} clusters over MQTT: "
            + figures([delays[d] for d in self.devices if d not in self.cut])
        )
        lost = [x for x in self.network.lost if x[1] != STATION]
        self.lines.append(
            f"           SMS sent {len(to)} for {len(self.cut)} clusters ({len(lost)} lost in the "
            f"network, the rest resends of unconfirmed orders); 0 to connected clusters"
            if not (set(to) & connected_phones)
            else "           SMS went to connected clusters (see problems)"
        )
        self.figures_sms = {"p99": pct(cut_delays, 99), "max": max(cut_delays)}

    # --- 2. mutated SMS ------------------------------------------------------------------

    def _mutated(self, stack) -> None:
        rng = random.Random(self.args.seed)
        texts = sorted({text for f, _, text in self.network.sent if f == STATION})
        time.sleep(12)  # every resend delivered and played (or taken as a copy) first
        before = self._plays(stack)
        n = 0
        for device in sorted(self.cut):
            for text in texts[:3]:
                for bad in mutations(text, rng):
                    self.modems[device].receive("+84999999999", bad)
                    n += 1
        time.sleep(8)
        played = self._plays(stack) - before
        self.lines.append(
            f"mutated, foreign and repeated SMS delivered: {n}; plays from them: {played}"
        )
        if played:
            self.problems.append(f"{played} plays from mutated or repeated SMS")

    # --- 3. CAP --------------------------------------------------------------------------

    def _cap(self, stack, villages) -> None:
        import httpx

        from protocol.messages import utcnow
        from tests.support.cap import cap_alert
        from tests.support.stack import wait_for

        for v in range(self.args.villages - 1):
            villages[v].heal()
        started = time.time()
        wait_for(
            lambda: self._online(stack) == len(self.devices),
            timeout=180,
            interval=0.5,
            what="links back",
        )
        self.lines.append(
            f"links healed: every cluster online again in {time.time() - started:.1f} s"
        )
        time.sleep(10)  # outboxes emptied (the SMS plays reported), the fleet quiet again
        posted_at = utcnow()
        t = time.monotonic()
        r = httpx.post(
            f"{stack.base_url}/api/cap",
            content=cap_alert("STORM-1", expires=None),
            headers={"Authorization": f"Bearer {CAP_TOKEN}", "Content-Type": "application/cap+xml"},
            timeout=60,
        )
        answered = time.monotonic() - t
        assert r.status_code == 200, r.text
        out = r.json()
        if out["pinned"] != "bao":
            self.problems.append(f"the CAP alert did not sound the pinned message: {out}")
            return
        play = out["broadcast_id"]
        try:
            got = wait_for(
                lambda: (lambda s: s if len(s) == len(self.devices) else None)(
                    self._sounds(stack, play=play)
                ),
                timeout=60,
                interval=0.2,
                what="the pinned message on every cluster",
            )
        except AssertionError:
            self.problems.append("the CAP alert's pinned message did not sound everywhere")
            return
        delays = [(at - posted_at).total_seconds() for at in got.values()]
        self.lines.append(f"CAP POST answered in {answered * 1000:.0f} ms (speech made after it)")
        self.lines.append("CAP POST → first sound (pinned message): " + figures(delays))


if __name__ == "__main__":
    sys.exit(main())
