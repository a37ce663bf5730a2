"""A home receiver's household: the knob and the switch decide what plays and how loud,
except for emergencies (the station's floor); kept across a restart."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from edge_agent.household import DEFAULT_FLOOR, Household
from protocol.messages import HouseholdControlsEvent, MediaRef, PlayCommand, Priority


def _play(priority: Priority = Priority.normal, **fields) -> PlayCommand:
    return PlayCommand(
        play_id="p1",
        broadcast_id="p1",
        start_at=datetime(2026, 12, 6, tzinfo=timezone.utc),
        priority=priority,
        media=MediaRef(sha256="a" * 64, url="http://x/a", size=1, duration_ms=1000),
        **fields,
    )


def test_the_knob_scales_a_bulletin_on_the_indoor_scale(tmp_path: Path):
    home = Household(tmp_path / "h.json", "nha-1", lambda _: None, indoor_max=40, volume=50)
    assert home.level(_play(), station_volume=100) == 20  # 50 % of a 40 % scale
    assert home.level(_play(volume=50), station_volume=100) == 10
    assert home.level(_play(), station_volume=50) == 10


@pytest.mark.parametrize(
    ("on", "volume", "expected"), [(True, 90, 36), (True, 10, 24), (False, 90, 24)]
)
def test_an_emergency_never_plays_under_the_floor_even_switched_off(
    tmp_path: Path, on: bool, volume: int, expected: int
):
    home = Household(tmp_path / "h.json", "nha-1", lambda _: None, indoor_max=40)
    home.set(volume=volume, on=on)
    alert = _play(Priority.emergency, receiver_floor=60)
    assert home.admits(alert)
    assert home.level(alert, station_volume=10) == expected  # the station's own knob aside


def test_switched_off_only_emergencies_play_and_the_state_survives_a_restart(tmp_path: Path):
    sent: list[HouseholdControlsEvent] = []
    home = Household(tmp_path / "h.json", "nha-1", sent.append)
    home.set(on=False)
    assert not home.admits(_play())
    assert not home.admits(_play(Priority.priority))
    assert [(e.on, e.volume) for e in sent] == [(False, 50)]
    again = Household(tmp_path / "h.json", "nha-1", sent.append)
    assert again.on is False
    # an emergency from an older controller that names no floor: the agent's own
    assert again.level(_play(Priority.emergency), 100) == round(DEFAULT_FLOOR * 40 / 100)
