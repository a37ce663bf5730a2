"""THE path every command takes: body → sequence → sign → record → publish, in order per target.

One object, ``CommandPath``, for plays, cancels, STOPs, zone and volume changes and plans:

- **validity** comes from one table (``Settings.command_validity``); only plays and plans
  carry their own (the play window, the plan window);
- **order**: a target's sequence number is taken and its command published under that
  target's lock (held across controllers on PostgreSQL: ``KeyLocks``), and commands still
  waiting for the broker go out first, so numbers reach an agent in the order they were
  issued (an agent refuses a lower number as ``replayed``);
- **the broker down** has one declared behaviour per kind of call:
  ``send`` keeps the command (signed bytes in the ``commands`` table) and publishes it when the
  broker is back, until it expires; the caller learns it is ``pending``. ``send_retained``
  (plans) records the latest message per topic (its signed bytes there, not in ``commands``),
  which ``RetainedKeeper`` re-asserts on every (re)connect.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from protocol import topics
from protocol.envelope import sign
from protocol.messages import CommandPayload, utcnow

from ..db.models import Command, CommandSequence
from ..domain.command import CommandState
from ..keys import KeyRing, SigningKey
from ..leadership import KeyLocks
from .gateway import MqttGateway, NotConnected

log = logging.getLogger(__name__)

OWN_VALIDITY = frozenset({"play", "plan"})
"""Kinds whose validity the caller computes (the play's window, the plan's window)."""


@dataclass(frozen=True)
class SentCommand:
    """A command as the path left it: published now, or pending until the broker is back."""

    cmd_id: str
    kind: str
    target: str
    topic: str
    seq: int
    data: bytes
    state: CommandState
    broadcast_id: str | None = None

    @property
    def pending(self) -> bool:
        return self.state == CommandState.pending


Listener = Callable[[SentCommand], None]


RETAINED_LOCK = "retained"
"""The one lock every retained send (plans) holds, across controllers."""
RETAINED_CHUNK = 250


@dataclass(frozen=True)
class RetainedMessage:
    """One retained message to sign and publish: its own sequence ``seq_key``; ``record``
    stores it as the latest for its topic, in the transaction that numbers it."""

    target: str
    topic: str
    body: Any
    not_after: datetime
    seq_key: str
    record: Callable[[Session, SentCommand], None]


class CommandPath:
    """Signs, records, sequences and publishes every command the controller sends."""

    def __init__(
        self,
        keys: KeyRing,
        sessions: sessionmaker[Session],
        gateway: MqttGateway,
        validity_s: Callable[[str], int],
        locks: KeyLocks,
    ):
        self._keys = keys
        self._sessions = sessions
        self._gateway = gateway
        self._validity_s = validity_s
        self._locks = locks
        self.listeners: list[Listener] = []  # told of every command the broker took

    @property
    def key(self) -> SigningKey:
        """The key that signs now (a promotion changes it for every command after)."""
        return self._keys.active

    # --- sending ---------------------------------------------------------------------------

    def send(
        self,
        target: str,
        body: Any,
        *,
        not_after: datetime | None = None,
        broadcast_id: str | None = None,
    ) -> SentCommand:
        """Sign and publish ``body`` to ``target``; kept and retried if the broker is down.

        A play of a broadcast is sent once per target: asked again (a send interrupted by a
        crash and taken up by another controller), the command already recorded is returned."""
        topic = topics.command_topic(target)
        with self._locks.hold(target):
            if broadcast_id is not None and body.type == "play":
                earlier = self._recorded_play(target, broadcast_id)
                if earlier is not None:
                    return earlier
            row = self._record(
                target,
                target,
                topic,
                body,
                self._expiry(body, not_after),
                broadcast_id,
                CommandState.pending,
                retain=False,
            )
            published = self._flush_key(target)
        self._notify(published)
        state = next((c.state for c in published if c.cmd_id == row.cmd_id), row.state)
        return _sent(row, state)

    def send_retained(
        self,
        target: str,
        topic: str,
        body: Any,
        *,
        not_after: datetime,
        seq_key: str,
        record: Callable[[Session, SentCommand], None],
    ) -> SentCommand:
        """Sign a retained message (a plan) with its own sequence ``seq_key``, let ``record``
        store it as the latest for its topic (same transaction), then publish it.

        If the broker is down nothing is queued: the latest is re-asserted on reconnect."""
        return self.send_retained_many(
            [RetainedMessage(target, topic, body, not_after, seq_key, record)]
        )[0]

    def send_retained_many(
        self,
        messages: list[RetainedMessage],
        *,
        prefetch: Callable[[Session, list[RetainedMessage]], None] = lambda session, part: None,
        chunk: int = RETAINED_CHUNK,
    ) -> list[SentCommand]:
        """``send_retained`` for many messages at once (every device's plan after a change):
        one transaction per ``chunk`` (``prefetch`` loads what their ``record`` needs), every
        message published without waiting for its PUBACK, and the broker's acks awaited once
        at the end. All retained sends hold one lock (across controllers), so two refreshes
        never interleave their numbers."""
        sent: list[SentCommand] = []
        infos: list[Any] = []
        with self._locks.hold(RETAINED_LOCK):
            for i in range(0, len(messages), chunk):
                part = messages[i : i + chunk]
                key = self.key  # one key for the chunk (a promotion waits for the next)
                with self._sessions.begin() as session:
                    prefetch(session, part)
                    seqs = next_seqs(session, [m.seq_key for m in part])
                    rows: list[dict[str, Any]] = []
                    for m, seq in zip(part, seqs, strict=True):
                        cmd_id, now, data = self._signed(seq, m.target, m.body, m.not_after, key)
                        # the signed bytes are kept once, by the recorder (device_plans):
                        # 5,000 plans of 3 KiB each were written twice per change
                        rows.append(
                            dict(
                                cmd_id=cmd_id,
                                type=m.body.type,
                                target=m.target,
                                seq_key=m.seq_key,
                                seq=seq,
                                topic=m.topic,
                                retain=True,
                                data=b"",
                                state=CommandState.retained.value,
                                broadcast_id=None,
                                issued_at=now,
                                not_after=m.not_after,
                            )
                        )
                        one = SentCommand(
                            cmd_id=cmd_id,
                            kind=m.body.type,
                            target=m.target,
                            topic=m.topic,
                            seq=seq,
                            data=data,
                            state=CommandState.retained,
                        )
                        m.record(session, one)
                        sent.append(one)
                    # one multi-row insert rather than an ORM object per command
                    session.execute(insert(Command), rows)
                for one in sent[-len(part) :]:
                    try:
                        infos.append(
                            self._gateway.publish(
                                one.topic, one.data, qos=1, retain=True, wait=None
                            )
                        )
                    except NotConnected as exc:
                        log.warning(
                            "retained %s not published now (%s); re-asserted on reconnect",
                            one.topic,
                            exc,
                        )
                        break
        deadline = time.monotonic() + 5 + len(infos) / 1000
        for info in infos:
            if info is not None:
                try:
                    info.wait_for_publish(max(0.1, deadline - time.monotonic()))
                except (RuntimeError, ValueError):
                    break  # disconnected meanwhile: the keeper re-asserts on reconnect
        return sent

    def flush_pending(self) -> int:
        """Publish what waits for the broker (oldest first per target); drop what expired."""
        with self._sessions() as session:
            keys = list(
                session.scalars(
                    select(Command.seq_key)
                    .where(Command.state == CommandState.pending.value)
                    .distinct()
                )
            )
        published: list[SentCommand] = []
        for key in keys:
            if not self._gateway.connected.is_set():
                break
            with self._locks.hold(key):
                published += self._flush_key(key)
        self._notify(published)
        return len(published)

    def pending(
        self, *, broadcast_id: str | None = None, target: str | None = None
    ) -> list[SentCommand]:
        """Commands still waiting for the broker, of a broadcast or for a target."""
        query = select(Command).where(Command.state == CommandState.pending.value)
        if broadcast_id is not None:
            query = query.where(Command.broadcast_id == broadcast_id)
        if target is not None:
            query = query.where(Command.target == target)
        with self._sessions() as session:
            return [
                _sent(r, CommandState.pending) for r in session.scalars(query.order_by(Command.seq))
            ]

    # --- inside ----------------------------------------------------------------------------

    def _recorded_play(self, target: str, broadcast_id: str) -> SentCommand | None:
        with self._sessions() as session:
            row = session.scalar(
                select(Command)
                .where(
                    Command.broadcast_id == broadcast_id,
                    Command.target == target,
                    Command.type == "play",
                )
                .limit(1)
            )
        return None if row is None else _sent(row, CommandState(row.state))

    def _expiry(self, body: Any, not_after: datetime | None) -> datetime:
        kind = body.type
        if kind in OWN_VALIDITY:
            if not_after is None:
                raise ValueError(f"a {kind} command needs its own not_after")
            return not_after
        if not_after is not None:
            raise ValueError(f"the validity of {kind} comes from Settings.command_validity")
        return utcnow() + timedelta(seconds=self._validity_s(kind))

    def _record(
        self,
        seq_key: str,
        target: str,
        topic: str,
        body: Any,
        not_after: datetime,
        broadcast_id: str | None,
        state: CommandState,
        retain: bool,
    ) -> Command:
        with self._sessions.begin() as session:
            return self._record_in(
                session, seq_key, target, topic, body, not_after, broadcast_id, state, retain
            )

    def _record_in(
        self,
        session: Session,
        seq_key: str,
        target: str,
        topic: str,
        body: Any,
        not_after: datetime,
        broadcast_id: str | None,
        state: CommandState,
        retain: bool,
    ) -> Command:
        return self._new_row(
            session,
            next_seqs(session, [seq_key])[0],
            seq_key,
            target,
            topic,
            body,
            not_after,
            broadcast_id,
            state,
            retain,
        )

    def _new_row(
        self,
        session: Session,
        seq: int,
        seq_key: str,
        target: str,
        topic: str,
        body: Any,
        not_after: datetime,
        broadcast_id: str | None,
        state: CommandState,
        retain: bool,
        key: SigningKey | None = None,
    ) -> Command:
        cmd_id, now, data = self._signed(seq, target, body, not_after, key or self.key)
        row = Command(
            cmd_id=cmd_id,
            type=body.type,
            target=target,
            seq_key=seq_key,
            seq=seq,
            topic=topic,
            retain=retain,
            data=data,
            state=state.value,
            broadcast_id=broadcast_id,
            issued_at=now,
            not_after=not_after,
        )
        session.add(row)
        return row

    @staticmethod
    def _signed(
        seq: int, target: str, body: Any, not_after: datetime, key: SigningKey
    ) -> tuple[str, datetime, bytes]:
        """A new command id, its issue time and the signed envelope."""
        cmd_id = uuid.uuid4().hex
        now = utcnow()
        payload = CommandPayload(
            kid=key.kid,
            cmd_id=cmd_id,
            target=target,
            issued_at=now,
            not_after=not_after,
            seq=seq,
            body=body,
        )
        return cmd_id, now, sign(payload, key.private)

    def _flush_key(self, key: str) -> list[SentCommand]:
        """Publish the pending commands of one sequence, in order, until the broker fails.

        Called with the key's lock held: nothing else takes a number for it meanwhile."""
        with self._sessions() as session:
            rows = list(
                session.scalars(
                    select(Command)
                    .where(Command.seq_key == key, Command.state == CommandState.pending.value)
                    .order_by(Command.seq)
                )
            )
        done: list[SentCommand] = []
        for row in rows:
            now = utcnow()
            if now > row.not_after:
                self._mark(row.cmd_id, CommandState.expired, now)
                log.warning("%s for %s expired before the broker took it", row.type, row.target)
                continue
            try:
                self._gateway.publish(row.topic, row.data, qos=1, retain=row.retain)
            except NotConnected as exc:
                log.warning("%s for %s waits for the broker (%s)", row.type, row.target, exc)
                break
            self._mark(row.cmd_id, CommandState.published, utcnow())
            done.append(_sent(row, CommandState.published))
        return done

    def _mark(self, cmd_id: str, state: CommandState, when: datetime) -> None:
        with self._sessions.begin() as session:
            session.execute(
                update(Command)
                .where(Command.cmd_id == cmd_id)
                .values(
                    state=state.value,
                    published_at=when if state == CommandState.published else None,
                )
            )

    def _notify(self, published: list[SentCommand]) -> None:
        for cmd in published:
            for listener in list(self.listeners):
                try:
                    listener(cmd)
                except Exception:
                    log.exception("command listener failed for %s", cmd.cmd_id)


def next_seqs(session: Session, keys: list[str]) -> list[int]:
    """The next sequence number of each key (in order; a key twice gets two), never below
    wall-clock milliseconds: a controller restored from an old backup still issues numbers
    above what agents have seen. The rows are locked until the transaction ends."""
    rows = {
        r.target: r
        for r in session.scalars(
            select(CommandSequence).where(CommandSequence.target.in_(set(keys))).with_for_update()
        )
    }
    floor = time.time_ns() // 1_000_000
    seqs: list[int] = []
    for key in keys:
        row = rows.get(key)
        if row is None:
            row = rows[key] = CommandSequence(target=key, last_seq=floor)
            session.add(row)
            seqs.append(floor)
        else:
            row.last_seq = max(row.last_seq + 1, floor)
            seqs.append(row.last_seq)
    session.flush()
    return seqs


def _sent(row: Command, state: CommandState) -> SentCommand:
    return SentCommand(
        cmd_id=row.cmd_id,
        kind=row.type,
        target=row.target,
        topic=row.topic,
        seq=row.seq,
        data=row.data,
        state=state,
        broadcast_id=row.broadcast_id,
    )
