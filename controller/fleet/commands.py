"""Build, record and sign commands: one sequence number per target, kept in the database."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from protocol import topics
from protocol.envelope import sign
from protocol.messages import CommandPayload, utcnow

from ..db.models import Command, CommandSequence
from ..keys import SigningKey


class SignedCommand:
    def __init__(self, cmd_id: str, target: str, topic: str, data: bytes, seq: int):
        self.cmd_id = cmd_id
        self.target = target
        self.topic = topic
        self.data = data
        self.seq = seq


class CommandSigner:
    """Allocates sequence numbers and signs command envelopes."""

    def __init__(self, key: SigningKey, sessions: sessionmaker[Session]):
        self.key = key
        self._sessions = sessions
        self._lock = threading.Lock()

    def _next_seq(self, session: Session, target: str) -> int:
        row = session.scalar(
            select(CommandSequence).where(CommandSequence.target == target).with_for_update()
        )
        # Never below wall-clock milliseconds: a controller restored from an old backup
        # still issues numbers above what agents have already seen.
        floor = time.time_ns() // 1_000_000
        if row is None:
            seq = floor
            session.add(CommandSequence(target=target, last_seq=seq))
        else:
            seq = max(row.last_seq + 1, floor)
            row.last_seq = seq
        return seq

    def issue(self, target: str, body: object, not_after: datetime,
              broadcast_id: str | None = None, seq_key: str | None = None) -> SignedCommand:
        """Record and sign one command for ``target``; the caller publishes it.

        ``seq_key`` gives a message kind its own sequence (plans: ``plan|device:ID``), so a
        retained plan is not "older" than the commands sent after it.
        """
        cmd_id = uuid.uuid4().hex
        now = utcnow()
        with self._lock, self._sessions.begin() as session:
            seq = self._next_seq(session, seq_key or target)
            payload = CommandPayload(kid=self.key.kid, cmd_id=cmd_id, target=target,
                                     issued_at=now, not_after=not_after, seq=seq,
                                     body=body)  # type: ignore[arg-type]
            session.add(Command(cmd_id=cmd_id, type=payload.body.type, target=target, seq=seq,
                                broadcast_id=broadcast_id, issued_at=now, not_after=not_after))
        return SignedCommand(cmd_id, target, topics.command_topic(target),
                             sign(payload, self.key.private), seq)
