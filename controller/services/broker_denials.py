"""The broker's refusals (``broker/denials.py`` reads them from its log) as each device's
security events: a device probing ``#`` or publishing as another is seen by the technician on
its page and its ``security`` alarm. At most one event a minute per device: what comes
meanwhile is counted into the next, so a device hammering the broker cannot flood the log."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import utcnow

from ..broker.denials import Denial, Subscription
from ..db.models import DeviceEvent
from ..fleet.security import security_alarm

log = logging.getLogger(__name__)


class BrokerDenials:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        reads: Callable[[str], frozenset[str] | None],
        changed: Callable[[], None] = lambda: None,
        every_s: float = 60.0,
    ):
        """``reads(user)``: what a device may subscribe to (None: not a device)."""
        self._sessions = sessions
        self._reads = reads
        self._changed = changed
        self._every_s = every_s
        self._pending: dict[str, Counter[tuple[str, str]]] = {}
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()
        self.seen_total = 0  # refusals seen since start (metrics)

    def seen(self, item: Denial | Subscription) -> None:
        """One line of the broker's log: a refusal, or a subscription to judge."""
        allowed = self._reads(item.user)
        if allowed is None:
            return  # the controller's own log-ins, or someone unknown
        if isinstance(item, Subscription):
            if item.topic in allowed:
                return
            item = Denial(item.user, "subscribe", item.topic)
        with self._lock:
            self.seen_total += 1
            self._pending.setdefault(item.user, Counter())[(item.action, item.topic)] += 1
            due = time.monotonic() - self._last.get(item.user, -1e9) >= self._every_s
        if due:
            self.flush(only=item.user)

    def flush(self, only: str | None = None) -> int:
        """Store what is due (every device whose last event is a minute old; ``only``: that
        one). Returns the events written."""
        now = time.monotonic()
        with self._lock:
            users = [
                u
                for u in ([only] if only else list(self._pending))
                if u in self._pending and now - self._last.get(u, -1e9) >= self._every_s
            ]
            batch = {u: self._pending.pop(u) for u in users}
            for u in users:
                self._last[u] = now
        if not batch:
            return 0
        at = utcnow()
        with self._sessions.begin() as session:
            for user, counts in batch.items():
                total = sum(counts.values())
                detail = "; ".join(
                    f"{action} {topic} ×{n}" for (action, topic), n in counts.most_common(5)
                )
                (action, topic), _ = counts.most_common(1)[0]
                session.add(
                    DeviceEvent(
                        event_id=f"broker-{uuid.uuid4().hex}",
                        device_id=user,
                        type="security",
                        ts=at,
                        received_at=at,
                        play_id=None,
                        payload={
                            "type": "security",
                            "reason": "broker_denied",
                            "detail": detail[:300],
                            "topic": topic[:200],
                            "action": action,
                            "denials": total,
                        },
                    )
                )
                security_alarm(session, user, f"broker_denied: {detail}", at, count=total)
                log.warning("the broker refused %s: %s", user, detail)
        self._changed()
        return len(batch)
