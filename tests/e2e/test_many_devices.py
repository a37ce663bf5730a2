"""Registering many devices quickly leaves every one with its signed plan (a refresh asked for
while one ran was once skipped for good)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from controller.db.models import DevicePlan
from tests.support.stack import Stack, wait_for

DEVICES = 60


def test_sixty_devices_registered_at_once_each_get_their_plan(stack: Stack):
    stack.add_zone("thon-dong")

    def register(i: int) -> int:
        return stack.api.post(
            "/api/devices",
            json={
                "id": f"loa-{i}",
                "name": f"Cụm loa {i}",
                "zones": ["thon-dong"],
                "output": "file",
            },
        ).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(register, range(DEVICES))) == {201}
    assert stack.services is not None

    def planned() -> set[str]:
        with stack.services.sessions() as session:  # type: ignore[union-attr]
            return set(session.scalars(select(DevicePlan.device_id)))

    wait_for(
        lambda: planned() == {f"loa-{i}" for i in range(DEVICES)},
        timeout=60,
        what="a plan for every device",
    )
    # and later changes are still refreshed (the refresh is not stuck 'running')
    stack.add_zone("thon-tay")
    assert (
        stack.api.post(
            "/api/devices",
            json={"id": "loa-late", "name": "Muộn", "zones": ["thon-tay"], "output": "file"},
        ).status_code
        == 201
    )
    wait_for(lambda: "loa-late" in planned(), timeout=30, what="the late one's plan")
