"""What the agent must remember across restarts: last sequence per target, zones, handled plays."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from pathlib import Path

from .fsutil import atomic_write, read_json

PLAY_MEMORY = timedelta(days=3)


class AgentState:
    """A small JSON file, rewritten atomically on every change (a few per broadcast)."""

    def __init__(self, path: Path, default_zones: list[str]):
        self.path = path
        self._lock = threading.Lock()
        data = read_json(path, {})
        self.last_seq: dict[str, int] = {
            str(k): int(v) for k, v in data.get("last_seq", {}).items()
        }
        self.last_cmd: dict[str, str] = {
            str(k): str(v) for k, v in data.get("last_cmd", {}).items()
        }
        self.zones: list[str] = list(data.get("zones", default_zones))
        self.plays: dict[str, str] = dict(data.get("plays", {}))  # play_id -> start_at iso
        self.volume: int = int(data.get("volume", 100))
        # Accepted play commands not yet over: {play_id: {"cmd": ..., "not_after": iso}}.
        # A reboot between the command and its start time must not lose the play.
        self.pending: dict[str, dict] = dict(data.get("pending", {}))
        # signing keys learnt by command (kid -> base64url key) and those retired for good
        self.keys: dict[str, str] = {str(k): str(v) for k, v in data.get("keys", {}).items()}
        self.retired_keys: set[str] = {str(k) for k in data.get("retired_keys", [])}
        # the last SMS order obeyed (protocol/sms.py): one sequence for every SMS
        self.sms_seq: int = int(data.get("sms_seq", 0))

    def _save(self) -> None:
        data = {
            "last_seq": self.last_seq,
            "last_cmd": self.last_cmd,
            "zones": self.zones,
            "plays": self.plays,
            "volume": self.volume,
            "pending": self.pending,
            "keys": self.keys,
            "retired_keys": sorted(self.retired_keys),
            "sms_seq": self.sms_seq,
        }
        atomic_write(self.path, json.dumps(data, sort_keys=True).encode())

    def accept(
        self,
        target: str,
        seq: int,
        play_id: str | None = None,
        start_at: datetime | None = None,
        now: datetime | None = None,
        cmd_id: str | None = None,
        pending: dict | None = None,
    ) -> bool:
        """Persist ``seq`` (and claim ``play_id``) in one write, before acting on the command.

        The sequence number makes a replay refused even after a restart; the play id makes a
        play happen once, whichever path brings it. Returns False if the play was already seen.
        """
        with self._lock:
            self.last_seq[target] = max(seq, self.last_seq.get(target, 0))
            if cmd_id is not None:
                self.last_cmd[target] = cmd_id
            new_play = False
            if play_id is not None and play_id not in self.plays:
                new_play = True
                self.plays[play_id] = (start_at or now or datetime.now()).isoformat()
                if pending is not None:
                    self.pending[play_id] = pending
                if now is not None:
                    cutoff = now - PLAY_MEMORY
                    self.plays = {
                        k: v for k, v in self.plays.items() if datetime.fromisoformat(v) >= cutoff
                    }
            self._save()
            return new_play

    def accept_sms(self, seq: int) -> None:
        """An SMS order obeyed: its number kept on disk before it is acted on (raises
        ``OSError`` if it cannot be, and the order must then not be obeyed)."""
        with self._lock:
            previous = self.sms_seq
            self.sms_seq = max(seq, previous)
            try:
                self._save()
            except OSError:
                self.sms_seq = previous
                raise

    def trust_key(self, kid: str, key: str) -> None:
        with self._lock:
            if kid not in self.retired_keys:
                self.keys[kid] = key
                self._save()

    def retire_key(self, kid: str) -> None:
        with self._lock:
            self.keys.pop(kid, None)
            self.retired_keys.add(kid)
            self._save()

    def set_zones(self, zones: list[str]) -> None:
        with self._lock:
            self.zones = list(zones)
            self._save()

    def play_over(self, play_id: str) -> None:
        """The play finished, failed or was cancelled: nothing to restore after a reboot."""
        with self._lock:
            if self.pending.pop(play_id, None) is not None:
                try:
                    self._save()
                except OSError:  # a full disk: at worst a reboot restores a play that is over
                    pass

    def set_volume(self, level: int) -> None:
        with self._lock:
            self.volume = level
            self._save()

    def claim_many(self, plays: list[tuple[str, datetime]], now: datetime) -> set[str]:
        """Claim several play ids in one write; returns those not claimed before."""
        with self._lock:
            new = {play_id for play_id, _ in plays if play_id not in self.plays}
            if not new:
                return set()
            for play_id, start_at in plays:
                if play_id in new:
                    self.plays[play_id] = start_at.isoformat()
            cutoff = now - PLAY_MEMORY
            self.plays = {
                k: v for k, v in self.plays.items() if datetime.fromisoformat(v) >= cutoff
            }
            self._save()
            return new
