"""Agent reports from the MQTT thread to the database, in batches (``batch.py`` applies one).

One worker thread drains a queue in batches, so the MQTT thread never waits on the database
and SQLite sees a single writer. On PostgreSQL the batches are applied in a process of its own
(``Applier`` behind a pipe), so the database work never holds the interpreter lock the MQTT
threads need to keep reading. Reports are deduplicated by ``event_id``. After each batch
is committed, ``on_stored`` learns the event ids stored per device (duplicates and reports
refused for good included): the receipts that let each agent delete them from its outbox.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from .batch import Applier, BatchResult
from .queues import waiting

log = logging.getLogger(__name__)


def _ingest_process(database_url: str, conn: Connection) -> None:
    """The ingest process: batches in, results out, until told to stop (None) or orphaned."""
    from ..db.session import make_engine, make_sessionmaker

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    engine = make_engine(database_url)
    applier = Applier(make_sessionmaker(engine))
    conn.send("ready")
    while True:
        try:
            batch = conn.recv()
        except (EOFError, OSError):
            break
        if batch is None:
            break
        conn.send(applier.apply(batch))
    engine.dispose()


class _ProcessApplier:
    """``Applier.apply`` in a process of its own: the database work (most of ingest's CPU)
    then never holds this interpreter's lock, which the MQTT threads need to keep reading.
    A worker that dies is started again; its batch gets no receipts and is sent again."""

    def __init__(self, database_url: str):
        self._url = database_url
        self._ctx = mp.get_context("spawn")
        self._proc: Any = None
        self._conn: Connection | None = None

    def _spawn(self) -> None:
        ours, theirs = self._ctx.Pipe()
        self._proc = self._ctx.Process(
            target=_ingest_process, args=(self._url, theirs), name="loalang-ingest", daemon=True
        )
        self._proc.start()
        theirs.close()
        if not ours.poll(60) or ours.recv() != "ready":
            raise RuntimeError("the ingest process did not start")
        self._conn = ours

    def apply(self, batch: list[tuple[str, bytes, float]]) -> BatchResult:
        if self._conn is None or not self._proc.is_alive():
            self._spawn()
        assert self._conn is not None
        try:
            self._conn.send(batch)
            result: BatchResult = self._conn.recv()
            return result
        except (EOFError, OSError):
            log.error("ingest process died (exit code %s); starting another", self._proc.exitcode)
            self._conn = None
            died = f"the ingest process died (exit code {self._proc.exitcode})"
            return BatchResult(rejected=len(batch), failed=len(batch), error=died)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.send(None)
            except OSError:
                pass
        if self._proc is not None:
            self._proc.join(10)
            if self._proc.is_alive():
                self._proc.kill()
        self._conn = None


class Ingest:
    """Queue + worker that applies agent reports to the database."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        batch_size: int = 1000,
        on_applied: Callable[[set[str]], None] = lambda topics: None,
        on_stored: Callable[[dict[str, list[str]]], None] = lambda ids: None,
        process_url: str | None = None,
        observe_lag: Callable[[float], None] = lambda seconds: None,
    ):
        """``on_applied`` learns what each committed batch touched: ``fleet`` (a status or an
        alarm), ``progress`` (acks, playback and security events); ``on_stored`` the event
        ids now safe in the database, per device. With ``process_url`` (a database URL)
        the batches are applied in a process of its own."""
        self._applier: Applier | _ProcessApplier = (
            _ProcessApplier(process_url) if process_url else Applier(sessions)
        )
        self._queue: queue.Queue[tuple[str, bytes, float] | None] = queue.Queue()
        self._batch_size = batch_size
        self._thread = threading.Thread(target=self._run, name="ingest", daemon=True)
        # receipts and page updates of a committed batch go out while the next one is applied
        self._after: queue.Queue[tuple[list[tuple[str, bytes, float]], BatchResult] | None] = (
            queue.Queue()
        )
        self._after_thread = threading.Thread(
            target=self._run_after, name="ingest-receipts", daemon=True
        )
        self._pending = 0  # reports submitted whose batch's receipts are not out yet
        self._count_lock = threading.Lock()
        self.processed = 0
        self.rejected = 0
        self.failed = 0  # reports not stored for an error (a database refusing writes)
        self.last_error: str | None = None
        self.lag_s: list[float] = []  # receive → committed, last 10,000 reports (benchmarks)
        self.observe_lag = observe_lag  # metrics
        self._idle = threading.Event()
        self._idle.set()
        self._on_applied = on_applied
        self._on_stored = on_stored

    def start(self) -> None:
        if isinstance(self._applier, _ProcessApplier):
            self._applier._spawn()  # at start, so a broken setup fails loudly here
        self._after_thread.start()
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._after.put(None)
        if self._after_thread.is_alive():
            self._after_thread.join(timeout=10)
        if isinstance(self._applier, _ProcessApplier):
            self._applier.close()

    def submit(self, topic: str, payload: bytes) -> None:
        """Called from the MQTT thread; never blocks on the database."""
        with self._count_lock:
            self._pending += 1
            self._idle.clear()
        self._queue.put((topic, payload, time.monotonic()))

    @property
    def backlog(self) -> int:
        """Reports received whose batch is not committed and receipted yet (metrics)."""
        return self._pending

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until everything submitted so far is in the database (tests, benchmarks)."""
        return self._idle.wait(timeout)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            more, stop = waiting(self._queue, self._batch_size - 1)
            batch = [item, *more]
            self._after.put((batch, self._apply(batch)))
            if stop:
                return

    def _run_after(self) -> None:
        """Receipts for every batch committed meanwhile at once: under load a device then
        gets one receipt naming several reports rather than one per batch."""
        while (item := self._after.get()) is not None:
            batch, result = item
            more, stop = waiting(self._after, 10_000)
            for other_batch, other in more:
                batch = batch + other_batch
                result = result.merged(other)
            self._applied(batch, result)
            with self._count_lock:
                self._pending -= len(batch)
                if self._pending == 0:
                    self._idle.set()
            if stop:
                return

    def _apply(self, batch: list[tuple[str, bytes, float]]) -> BatchResult:
        try:
            return self._applier.apply(batch)
        except Exception as exc:  # the process could not start: no receipts, sent again later
            log.exception("ingest batch not applied")
            error = f"{type(exc).__name__}: {exc}"
            return BatchResult(rejected=len(batch), failed=len(batch), error=error)

    def apply_batch(self, batch: list[tuple[str, bytes, float]]) -> None:
        """Apply one batch of (topic, payload, received monotonic time) now, receipts
        included (tests call this; the worker threads split the two)."""
        self._applied(batch, self._apply(batch))

    def _applied(self, batch: list[tuple[str, bytes, float]], result: BatchResult) -> None:
        """After a batch is committed: receipts, counters, live pages."""
        self.processed += result.processed
        self.rejected += result.rejected
        self.failed += result.failed
        self.last_error = result.error or self.last_error
        if result.stored:
            try:
                self._on_stored(result.stored)
            except Exception:
                log.exception("receipts not sent")
        done = time.monotonic()
        lags = [done - received for _, _, received in batch]
        self.lag_s.extend(lags)
        del self.lag_s[:-10000]
        for lag in lags:
            self.observe_lag(lag)
        if result.touched:
            try:
                self._on_applied(result.touched)
            except Exception:
                log.exception("ingest listener failed")
