"""The first admin comes from the command line, with a password its owner chooses."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from tests.support.stack import Stack


def _cli(*args: str, data_dir, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "LOALANG_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "loalang.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_first_admin_and_a_token_from_the_cli(tmp_path, mosquitto):
    data = tmp_path / "controller"
    made = _cli(
        "user",
        "add",
        "quan-tri",
        "--role",
        "admin",
        "--display-name",
        "Quản trị",
        "--password-stdin",
        data_dir=data,
        stdin="mat-khau-rat-dai\n",
    )
    assert made.returncode == 0, made.stderr
    token = _cli("user", "token", "quan-tri", data_dir=data)
    assert token.returncode == 0
    assert token.stdout.startswith("lt_")

    short = _cli(
        "user", "add", "ngan", "--role", "admin", "--password-stdin", data_dir=data, stdin="ngan\n"
    )
    assert short.returncode == 1
    assert "shorter than 10" in short.stderr
    bad_role = _cli(
        "user",
        "add",
        "x1",
        "--role",
        "vua",
        "--password-stdin",
        data_dir=data,
        stdin="mat-khau-rat-dai\n",
    )
    assert bad_role.returncode == 1
    assert "unknown role" in bad_role.stderr
    twice = _cli(
        "user",
        "add",
        "quan-tri",
        "--role",
        "admin",
        "--password-stdin",
        data_dir=data,
        stdin="mat-khau-rat-dai\n",
    )
    assert twice.returncode == 1
    assert "user.exists" in twice.stderr

    stack = Stack(tmp_path, mosquitto.port).start()  # the controller on that data dir
    try:
        me = httpx.get(
            stack.base_url + "/api/me", headers={"Authorization": f"Bearer {token.stdout.strip()}"}
        )
        assert me.status_code == 200
        assert me.json()["username"] == "quan-tri"
        assert me.json()["roles"] == ["admin"]
        log = stack.api.get("/api/users").json()
        assert [u["username"] for u in log] == ["quan-tri"]
    finally:
        stack.stop()
