"""Shared fixtures: a real Mosquitto per test, a running controller, generated speech."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import postgres
from tests.support.audio import make_speech
from tests.support.mosquitto import Mosquitto
from tests.support.stack import Stack


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "mosquitto").start()
    yield broker
    broker.stop()


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
