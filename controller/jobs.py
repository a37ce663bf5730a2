"""Jobs in time (APScheduler): one-shot jobs that send and close broadcasts, periodic refreshes.

The database is the source of truth; jobs live in memory and are rebuilt from it at start
(see ``BroadcastService.recover``), so a restart neither loses nor doubles a play. A job that
fires late (controller busy or paused) still runs within ``misfire_grace_time``; the job
itself checks the play window, so a late send is refused rather than played late.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler

from protocol.messages import utcnow

log = logging.getLogger(__name__)


class Jobs:
    def __init__(self, workers: int = 8, misfire_grace_s: int = 3600):
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(workers)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": misfire_grace_s,
            },
            timezone="UTC",
        )

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def at(self, when: datetime, job_id: str, func: Callable[..., Any], *args: Any) -> None:
        """Run ``func(*args)`` at ``when`` (at once if it is past), replacing a job of that id."""
        self._scheduler.add_job(
            func, "date", run_date=max(when, utcnow()), args=args, id=job_id, replace_existing=True
        )

    def every(self, seconds: float, job_id: str, func: Callable[..., Any]) -> None:
        """Run ``func`` now and then every ``seconds`` (one instance at a time)."""
        self._scheduler.add_job(
            func,
            "interval",
            seconds=seconds,
            id=job_id,
            next_run_time=utcnow(),
            replace_existing=True,
        )

    def run_soon(self, job_id: str, func: Callable[..., Any]) -> None:
        """Run ``func`` once in the scheduler's pool, without blocking the caller."""
        self._scheduler.add_job(func, "date", run_date=utcnow(), id=job_id, replace_existing=True)

    def cancel(self, job_id: str) -> None:
        try:
            self._scheduler.remove_job(job_id)
        except JobLookupError:
            pass

    def job_ids(self) -> list[str]:
        return [job.id for job in self._scheduler.get_jobs()]
