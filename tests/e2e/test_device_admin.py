"""An admin's device chores: rotate a device's credentials, retire it, place it on the map."""

from __future__ import annotations

import tomllib

import httpx

from tests.support.stack import Stack


def test_rotate_retire_and_locate_a_device(stack: Stack, speech_wav):
    stack.add_zone("thon-dong")
    old = stack.register("loa-1", ["thon-dong"])
    media = stack.upload(speech_wav)
    url = stack.base_url + f"/media/{media['sha256']}"
    assert httpx.get(url, headers={"Authorization": f"Bearer {old.token}"}).status_code == 200

    technician = stack.person("ky-thuat", "technician")
    r = technician.put(
        "/api/devices/loa-1/location", json={"latitude": 21.0278, "longitude": 105.8342}
    )
    assert r.status_code == 200
    assert (r.json()["latitude"], r.json()["longitude"]) == (21.0278, 105.8342)
    assert (
        technician.put(
            "/api/devices/loa-1/location", json={"latitude": 91, "longitude": 0}
        ).status_code
        == 422
    )
    assert technician.post("/api/devices/loa-1/rotate-token").status_code == 403

    rotated = stack.api.post("/api/devices/loa-1/rotate-token", params={"output": "file"})
    assert rotated.status_code == 200
    new_token = tomllib.loads(rotated.json()["config_toml"])["token"]
    assert new_token == rotated.json()["token"] != old.token
    assert httpx.get(url, headers={"Authorization": f"Bearer {old.token}"}).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {new_token}"}).status_code == 200

    retired = stack.api.post("/api/devices/loa-1/retire")
    assert retired.status_code == 200
    assert retired.json()["retired"] is True
    assert httpx.get(url, headers={"Authorization": f"Bearer {new_token}"}).status_code == 401
    nobody = stack.api.post(
        "/api/broadcasts", json={"media_sha256": media["sha256"], "targets": ["zone:thon-dong"]}
    )
    assert nobody.status_code == 422
    assert nobody.json()["error"]["code"] == "broadcast.no_devices"
    again = stack.api.post("/api/devices/loa-1/rotate-token")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "device.retired"
    actions = [
        e["action"] for e in stack.api.get("/api/audit", params={"action": "device."}).json()
    ]
    assert {"device.register", "device.location", "device.rotate_token", "device.retire"} <= set(
        actions
    )
