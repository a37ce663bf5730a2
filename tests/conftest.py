"""Shared fixtures: a real Mosquitto per test, a running controller, generated speech."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from tests.support import postgres
from tests.support.audio import make_speech
from tests.support.icecast import Icecast
from tests.support.mosquitto import Mosquitto
from tests.support.stack import Stack

# No wall-clock deadline for a generated example: on a shared 2-core machine under the whole
# suite one took 313 ms against Hypothesis's 200 ms and failed a property that held (timings
# are measured by bench/, never asserted by a test)
hypothesis_settings.register_profile("loalang", deadline=None)
hypothesis_settings.load_profile("loalang")


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "mosquitto").start()
    yield broker
    broker.stop()


@pytest.fixture
def icecast(tmp_path: Path) -> Iterator[Icecast]:
    """A real Icecast on a free port, with ffmpeg sources fed by the test."""
    server = Icecast(tmp_path / "icecast").start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """Both storage backends, for tests where the backend matters."""
    if request.param == "sqlite":
        yield None
        return
    if not postgres.available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL not reachable at {postgres.ADMIN_URL}")
        pytest.skip(f"PostgreSQL not reachable at {postgres.ADMIN_URL}")
    with postgres.temp_database() as url:
        yield url


@pytest.fixture
def stack(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Stack]:
    s = Stack(tmp_path, mosquitto.port).start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="session")
def speech_wav(speech_dir: Path) -> Path:
    """About three seconds of Vietnamese speech (espeak-ng) as 22.05 kHz WAV."""
    return make_speech(speech_dir / "ban-tin.wav")


# --- tiers ----------------------------------------------------------------------------------

E2E_DIRS = ("e2e", "browser")
E2E_FIXTURES = {"mosquitto", "icecast", "room"}
"""A test that needs a real broker, stream server or sound server is end to end;
``-m "not e2e"`` runs the fast tier alone."""


E2E_RERUN = pytest.mark.flaky(reruns=1, only_rerun=[AssertionError])
"""An end-to-end test plays real audio in real time beside four others on a shared 2-core
machine: one whose *assertion* failed (a start that came late, a wait that ran out) runs once
more, and the summary lists it as RERUN. An error, or an exception in a background thread
(``no_background_errors``), is never run again: those are bugs, not timing."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        if any(d in parts for d in E2E_DIRS) or E2E_FIXTURES & set(
            getattr(item, "fixturenames", ())
        ):
            item.add_marker(pytest.mark.e2e)
            if not item.get_closest_marker("flaky"):
                item.add_marker(E2E_RERUN)


# --- nothing may fail silently in a background thread ---------------------------------------


class _Errors(logging.Handler):
    """Collects ERROR records that carry a traceback: an exception somewhere in a thread."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.CRITICAL:
            self.records.append(
                f"{record.name}: {record.getMessage()}\n"
                f"{self.format(record) if record.exc_info else ''}"
            )


@pytest.fixture(autouse=True)
def no_background_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test when any thread logged an exception or died of one while it ran.

    A test that provokes such an error on purpose says so with ``@pytest.mark.allow_errors``."""
    handler = _Errors()
    root = logging.getLogger()
    root.addHandler(handler)
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        handler.records.append(
            f"thread {args.thread.name if args.thread else '?'} died: "
            f"{args.exc_type.__name__}: {args.exc_value}"
        )
        previous(args)

    threading.excepthook = hook
    try:
        yield
    finally:
        threading.excepthook = previous
        root.removeHandler(handler)
    if handler.records and request.node.get_closest_marker("allow_errors") is None:
        pytest.fail(
            "exceptions in background threads:\n" + "\n".join(handler.records[:5]), pytrace=False
        )
