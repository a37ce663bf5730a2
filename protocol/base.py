"""The building blocks of every message: constrained types and the base structs."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

import msgspec
from msgspec import Meta

from .topics import ID_PATTERN, SHA256_PATTERN, TARGET_PATTERN

UtcDatetime = Annotated[datetime, Meta(tz=True)]
"""A datetime that must carry an explicit offset; held in UTC after decoding."""
Sha256 = Annotated[str, Meta(pattern=SHA256_PATTERN)]
Ident = Annotated[str, Meta(pattern=f"^{ID_PATTERN}$")]
Target = Annotated[str, Meta(pattern=TARGET_PATTERN)]
Text200 = Annotated[str, Meta(max_length=200)]
Line200 = Annotated[str, Meta(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
"""One line of text in a command (a title, a reason): no control characters."""


def one_line(text: str, limit: int = 200) -> str:
    """``text`` as a command may carry it: whitespace and control characters become single
    spaces, cut at ``limit`` (a title typed with a line break, a CAP headline)."""
    return " ".join("".join(" " if c < " " or c == "\x7f" else c for c in text).split())[:limit]


Percent = Annotated[int, Meta(ge=0, le=100)]
WORD_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,79}$"
PlayId = Annotated[str, Meta(pattern=WORD_PATTERN)]
"""A play, broadcast or command id: letters, digits and ``._:-``, never a space or a control
character (ids go into logs and database keys)."""


def utcnow() -> datetime:
    """Current time as an aware UTC datetime."""
    return datetime.now(timezone.utc)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is timezone.utc else value.astimezone(timezone.utc)


class Message(msgspec.Struct, forbid_unknown_fields=True):
    """Every message: unknown fields refused; every field written (readers need no defaults),
    except in the command parts that gained fields later (``omit_defaults``: a stream, a
    cancel): those are left out at their default, so an agent one version older still reads
    what it knows. (Events go to the controller, which is upgraded first.)"""


class Tagged(Message, tag_field="type"):
    """A message whose ``type`` names it (commands, events): unions decode by that tag."""

    @property
    def type(self) -> str:
        return self.__struct_config__.tag  # type: ignore[return-value]


class Event(Tagged):
    """Every agent event: its own id (the controller drops a repeat), the device, the time."""

    event_id: PlayId
    device_id: Ident
    ts: UtcDatetime
