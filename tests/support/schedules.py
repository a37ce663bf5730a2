"""Schedule documents the tests PUT to /api/schedules."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def one_off_at(when: datetime, sha: str, name: str = "ban-tin") -> dict[str, Any]:
    """A station's schedules holding one bulletin for zone thon-dong, once, at ``when``."""
    local = when.astimezone(HCM)
    return {
        "timezone": "Asia/Ho_Chi_Minh",
        "quiet_hours": [],
        "schedules": [
            {
                "name": name,
                "title": "Bản tin theo lịch",
                "targets": ["zone:thon-dong"],
                "start": local.strftime("%H:%M:%S"),
                "date": local.date().isoformat(),
                "programme": [{"media": sha}],
            }
        ],
    }
