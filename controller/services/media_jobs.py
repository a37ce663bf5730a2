"""Long media work as jobs with progress: an upload's processing, a long text spoken.

Each job is a row (``media_jobs``) that the page or the CLI polls: its stage (``measuring``,
``speaking``, ``encoding``, ``checking``), how far it is, and its result or refusal. The work
runs on a small pool of threads (ffmpeg does the heavy part in its own processes).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import or_, update
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import utcnow

from ..auth import Principal
from ..db.models import MediaJob
from ..domain.errors import DomainError, NotFound
from ..domain.jobs import MediaJobState
from ..i18n import translate
from .views import JobOut, MediaOut

log = logging.getLogger(__name__)

Work = Callable[[Callable[[str, float], None]], tuple[MediaOut, bool]]
REPORT_EVERY_S = 0.5


class MediaJobs:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        workers: int,
        media_get: Callable[[str], MediaOut],
        controller_id: str,
    ):
        self._sessions = sessions
        self._controller_id = controller_id
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="media-job")
        self._media_get = media_get
        self._done: dict[str, threading.Event] = {}

    def recover(self) -> None:
        """Jobs a previous run of this controller left unfinished will not finish: say so
        (another controller's jobs are its own)."""
        with self._sessions.begin() as session:
            session.execute(
                update(MediaJob)
                .where(
                    MediaJob.state.in_(MediaJobState.unfinished()),
                    or_(
                        MediaJob.controller_id == self._controller_id,
                        MediaJob.controller_id.is_(None),
                    ),
                )
                .values(
                    state=MediaJobState.failed, error_key="job.interrupted", updated_at=utcnow()
                )
            )

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def start(
        self,
        kind: str,
        who: Principal,
        title: str,
        work: Work,
        cleanup: Callable[[], None] = lambda: None,
        then: Callable[[MediaOut], str] | None = None,
    ) -> JobOut:
        """Run ``work`` on the pool; ``then`` (a broadcast of the bulletin) runs once it is
        done, and what it returns (the broadcast id) is kept with the job."""
        job_id = uuid.uuid4().hex
        now = utcnow()
        with self._sessions.begin() as session:
            session.add(
                MediaJob(
                    id=job_id,
                    kind=kind,
                    state=MediaJobState.queued,
                    stage="queued",
                    progress=0.0,
                    title=title[:200],
                    created_by=who.username,
                    controller_id=self._controller_id,
                    created_at=now,
                    updated_at=now,
                    error_params={},
                )
            )
        self._done[job_id] = threading.Event()
        self._pool.submit(self._run, job_id, work, cleanup, then)
        return self.get(job_id)

    def _set(self, job_id: str, **values: object) -> None:
        with self._sessions.begin() as session:
            session.execute(
                update(MediaJob).where(MediaJob.id == job_id).values(updated_at=utcnow(), **values)
            )

    def _run(
        self,
        job_id: str,
        work: Work,
        cleanup: Callable[[], None],
        then: Callable[[MediaOut], str] | None,
    ) -> None:
        last = [0.0]

        def progress(stage: str, done: float) -> None:
            now = time.monotonic()
            if now - last[0] >= REPORT_EVERY_S:
                last[0] = now
                self._set(job_id, state=MediaJobState.running, stage=stage, progress=round(done, 3))

        try:
            self._set(job_id, state=MediaJobState.running, stage="starting")
            media, _ = work(progress)
            self._set(job_id, stage="sending" if then else "done", media_sha256=media.sha256)
            broadcast_id = then(media) if then else None
            self._set(
                job_id,
                state=MediaJobState.done,
                stage="done",
                progress=1.0,
                broadcast_id=broadcast_id,
            )
        except DomainError as exc:
            self._set(
                job_id,
                state=MediaJobState.failed,
                error_key=exc.key,
                error_params={k: str(v) for k, v in exc.params.items()},
            )
        except Exception:
            log.exception("media job %s failed", job_id)
            self._set(job_id, state=MediaJobState.failed, error_key="job.failed")
        finally:
            try:
                cleanup()
            finally:
                done = self._done.pop(job_id, None)
                if done is not None:
                    done.set()

    def get(self, job_id: str) -> JobOut:
        with self._sessions() as session:
            row = session.get(MediaJob, job_id)
            if row is None:
                raise NotFound("job.not_found", id=job_id[:40])
            out = JobOut(
                id=row.id,
                kind=row.kind,
                state=row.state,
                stage=row.stage,
                progress=row.progress,
                title=row.title,
                created_by=row.created_by,
                created_at=row.created_at,
                updated_at=row.updated_at,
            )
            key, params = row.error_key, dict(row.error_params or {})
            sha = row.media_sha256
            out.broadcast_id = row.broadcast_id
        if sha:
            out.media = self._media_get(sha)
        if key:
            out.error = {
                "code": key,
                "messages": {lang: translate(key, lang, **params) for lang in ("vi", "en")},
            }
        return out

    def wait(self, job_id: str, timeout: float) -> JobOut:
        """The job once it is over (or as it stands after ``timeout``)."""
        done = self._done.get(job_id)
        if done is not None:
            done.wait(timeout)
        return self.get(job_id)
