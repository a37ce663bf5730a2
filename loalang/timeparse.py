"""Parse the times broadcasters type: ``17:00``, ``2026-12-01 05:30``, ``+10m``, ISO 8601."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

_RELATIVE = re.compile(r"^\+(\d+)\s*([smh])$")
_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_when(text: str, now: datetime, tz: str = "Asia/Ho_Chi_Minh") -> datetime:
    """An aware UTC datetime for ``text``, read in local civil time ``tz`` when no offset is given.

    ``HH:MM`` means today at that time; it is an error if that moment has passed (a mis-typed
    hour must not silently become tomorrow's 03:15).
    """
    text = text.strip()
    zone = ZoneInfo(tz)
    if m := _RELATIVE.match(text):
        return (now + timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])).astimezone(
            timezone.utc
        )
    if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", text):
        parts = [int(p) for p in text.split(":")]
        local_now = now.astimezone(zone)
        when = local_now.replace(
            hour=parts[0], minute=parts[1], second=parts[2] if len(parts) > 2 else 0, microsecond=0
        )
    else:
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"cannot read time {text!r}: use HH:MM, 'YYYY-MM-DD HH:MM', +10m or ISO 8601"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=zone)
    when = when.astimezone(timezone.utc)
    if when < now:
        raise ValueError(f"{text} is in the past")
    return when
