"""The resume rule: what a play cut by a higher priority does once that play is over.

Pure, no I/O. A stored bulletin replays from its start while its play window is still open
(``not_after``: the start plus the broadcast's ``max_late_s``; a bulletin sent with
``max_late_s = 0`` is never replayed); a relay or a live broadcast rejoins its stream while its
slot lasts (``duration_s`` from the start; live ends sooner when the station ends it). A STOP,
a cancel or an agent shutting down is not a preemption: nothing comes back after those.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from protocol.messages import PlayCommand, Priority

_PRIORITIES = tuple(f"{p.value}:" for p in Priority)


def preempted_by(interrupted_by: str | None) -> str | None:
    """The play id of the higher priority that cut this play, or None (a STOP, a cancel...)."""
    if interrupted_by and interrupted_by.startswith(_PRIORITIES):
        return interrupted_by.split(":", 1)[1]
    return None


def resume_until(cmd: PlayCommand, not_after: datetime) -> datetime:
    """Until when a play cut by a higher priority may come back."""
    if cmd.stream is not None:
        return cmd.start_at + timedelta(seconds=cmd.stream.duration_s)
    return not_after
