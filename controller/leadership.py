"""Several controllers on one PostgreSQL: which one leads, and the notices between them.

Every controller serves HTTP and sends the commands its users ask for. Exactly one — the
holder of a PostgreSQL advisory lock — also runs what must not run twice: the scheduler's
periodic jobs, plan publishing, report ingest and the retained-message keeper. The lock lives
on one dedicated connection: a leader killed with ``-9`` (or cut off) loses its connection,
PostgreSQL releases the lock, and a follower polling every ``poll_s`` takes it over.

Followers tell the leader what changed (plans to refresh, a broadcast to schedule) and the
leader tells followers what the fleet did (for their open pages) through ``NOTIFY``/``LISTEN``
on the same connection. On SQLite there is one controller: it leads from the start and its
notices go straight to its own handler.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, text

log = logging.getLogger(__name__)

LEADER_LOCK = 0x6C6F616C616E67  # "loalang": one lock per database
CHANNEL = "loalang"
"""The one NOTIFY channel; a notice is ``kind:sender:payload`` (``plans:c1a2:``,
``broadcast:c1a2:ID``...); a controller ignores its own."""

Notice = Callable[[str, str], None]


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def _lock_key(name: str) -> int:
    """A stable signed 64-bit key for a lock name (what pg_advisory_lock takes)."""
    return int.from_bytes(
        hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True
    )


class KeyLocks:
    """A lock per name (a command sequence), held across every controller of one database:
    threads of this process by a ``threading.Lock``, other controllers by a PostgreSQL
    advisory lock on a connection of a small pool of its own (SQLite: the thread lock)."""

    def __init__(self, engine: Engine):
        self._thread_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._pg = (
            create_engine(
                engine.url,
                isolation_level="AUTOCOMMIT",
                pool_size=4,
                max_overflow=16,
                pool_pre_ping=True,
            )
            if is_postgresql(engine)
            else None
        )

    def _thread_lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._thread_locks.setdefault(name, threading.Lock())

    @contextmanager
    def hold(self, name: str) -> Iterator[None]:
        with self._thread_lock(name):
            if self._pg is None:
                yield
                return
            key = _lock_key(name)
            with self._pg.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
                try:
                    yield
                finally:
                    # a broken connection is dropped by the pool, and the lock with it
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})

    def dispose(self) -> None:
        if self._pg is not None:
            self._pg.dispose()


class Leadership:
    """Elects this controller leader or follower and carries notices between controllers.

    ``on_elected``/``on_deposed`` run on the election thread; ``on_notice(kind, payload)``
    gets every notice another controller (or this one, on SQLite) sent."""

    def __init__(
        self,
        engine: Engine,
        controller_id: str,
        *,
        on_elected: Callable[[], None],
        on_deposed: Callable[[], None],
        on_notice: Notice,
        poll_s: float = 1.0,
    ):
        self._engine = engine
        self.controller_id = controller_id
        self._on_elected = on_elected
        self._on_deposed = on_deposed
        self._on_notice = on_notice
        self._poll_s = poll_s
        self._leader = threading.Event()
        self._tried = threading.Event()  # the first election attempt is over
        self._running = threading.Event()
        self._thread: threading.Thread | None = None
        self._notify = (
            create_engine(
                engine.url,
                isolation_level="AUTOCOMMIT",
                pool_size=2,
                max_overflow=8,
                pool_pre_ping=True,
            )
            if is_postgresql(engine)
            else None
        )

    @property
    def is_leader(self) -> bool:
        return self._leader.is_set()

    @property
    def shared(self) -> bool:
        """True when other controllers may share this database (PostgreSQL)."""
        return self._notify is not None

    def start(self) -> None:
        self._running.set()
        if self._notify is None:
            self._become_leader()
            return
        self._thread = threading.Thread(target=self._run, name="leadership", daemon=True)
        self._thread.start()
        if not self._tried.wait(15):
            log.warning("no answer from the database about the lead yet; following meanwhile")

    def stop(self) -> None:
        """Step down (closing the connection frees the lock for a follower at once)."""
        self._running.clear()
        if self._thread is not None:
            self._thread.join(timeout=self._poll_s * 3 + 5)
        if self._leader.is_set():
            self._step_down()
        if self._notify is not None:
            self._notify.dispose()

    def wait_leader(self, timeout: float) -> bool:
        return self._leader.wait(timeout)

    def notify(self, kind: str, payload: str = "") -> None:
        """Tell the other controllers (and, on SQLite, this one) ``kind:payload``."""
        if self._notify is None:
            self._deliver(kind, payload)
            return
        try:
            with self._notify.connect() as conn:
                conn.execute(
                    text("SELECT pg_notify(:c, :p)"),
                    {"c": CHANNEL, "p": f"{kind}:{self.controller_id}:{payload}"},
                )
        except Exception:  # a notice is a hint; the leader's periodic jobs catch up
            log.exception("notice %s not sent", kind)

    # --- inside ----------------------------------------------------------------------------

    def _deliver(self, kind: str, payload: str) -> None:
        try:
            self._on_notice(kind, payload)
        except Exception:
            log.exception("notice %s:%s failed", kind, payload)

    def _become_leader(self) -> None:
        self._leader.set()
        log.info("this controller leads: scheduler, plans and ingest run here")
        try:
            self._on_elected()
        except Exception:
            log.exception("taking the lead failed")

    def _step_down(self) -> None:
        self._leader.clear()
        try:
            self._on_deposed()
        except Exception:
            log.exception("stepping down failed")

    def _run(self) -> None:
        import psycopg

        conninfo = self._engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        conn: psycopg.Connection | None = None
        while self._running.is_set():
            try:
                if conn is None:
                    # keepalives: a leader cut off from the database notices within ~10 s
                    conn = psycopg.connect(
                        conninfo,
                        autocommit=True,
                        keepalives=1,
                        keepalives_idle=3,
                        keepalives_interval=2,
                        keepalives_count=3,
                        connect_timeout=5,
                    )
                    conn.execute(f"LISTEN {CHANNEL}")
                if not self._leader.is_set():
                    got = conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK,)).fetchone()
                    if got and got[0]:
                        self._become_leader()
                    elif not self._tried.is_set():
                        log.info("another controller leads; this one follows")
                    self._tried.set()
                else:
                    conn.execute("SELECT 1")  # still holding it (the connection is alive)
                for notice in conn.notifies(timeout=self._poll_s):
                    kind, _, rest = notice.payload.partition(":")
                    sender, _, payload = rest.partition(":")
                    if sender != self.controller_id:
                        self._deliver(kind, payload)
            except Exception as exc:  # noqa: BLE001 - psycopg's and the network's: step down, retry
                log.warning("leadership connection lost (%s); retrying", exc)
                if conn is not None:
                    with contextlib.suppress(Exception):  # already broken
                        conn.close()
                conn = None
                if self._leader.is_set():
                    log.error("lost the lead (database connection lost): stepping down")
                    self._step_down()
                threading.Event().wait(self._poll_s)
        if conn is not None:
            conn.close()
