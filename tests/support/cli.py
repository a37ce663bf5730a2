"""The operator's ``loalang`` command run as a user runs it, against a test stack."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.stack import Stack

ROOT = Path(__file__).resolve().parents[2]


def run_cli(stack: Stack, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``loalang ARGS`` with the stack's address and token in the environment."""
    env = {**os.environ, "LOALANG_URL": stack.base_url, "LOALANG_TOKEN": stack.services.api_token}
    return subprocess.run(
        [sys.executable, "-m", "loalang.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
