"""A bench fails with the controller's first error instead of waiting out its timeouts (or for
good): a PostgreSQL that refuses writes (a full disk) showed up only as plays never stored."""

from __future__ import annotations

import logging


class ControllerFailed(RuntimeError):
    pass


class ErrorWatch(logging.Handler):
    """Holds the first error the controller (in this process) logged; ``check()`` raises it."""

    def __init__(self, logger: str = "controller") -> None:
        super().__init__(logging.ERROR)
        self.first: str | None = None
        logging.getLogger(logger).addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        if self.first is None:
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                text += f": {type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
            self.first = f"{record.name}: {text}"

    def check(self, ingest: object | None = None) -> None:
        """Raise the first error logged here, or one the ingest (a process of its own) met
        storing reports."""
        if self.first is not None:
            raise ControllerFailed(self.first)
        if ingest is not None and getattr(ingest, "failed", 0):
            raise ControllerFailed(
                f"{ingest.failed} reports not stored: {getattr(ingest, 'last_error', None)}"
            )
