"""Shared fixtures: a real Mosquitto per test, a running controller, generated speech."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.audio import make_speech
from tests.support.mosquitto import Mosquitto
from tests.support.stack import Stack


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "mosquitto").start()
    yield broker
    broker.stop()


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
