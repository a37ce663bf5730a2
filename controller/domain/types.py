"""The wire contract's value types as pydantic types, for the controller's own models (API
bodies, schedules). The patterns themselves are defined once, in ``protocol.topics``."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from pydantic import AfterValidator, Field

from protocol.topics import ID_PATTERN, SHA256_PATTERN, TARGET_PATTERN


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("datetime must carry an explicit UTC offset")
    return value.astimezone(timezone.utc)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
"""A datetime that must be timezone-aware on input and is held in UTC."""
Sha256 = Annotated[str, Field(pattern=SHA256_PATTERN)]
Ident = Annotated[str, Field(pattern=f"^{ID_PATTERN}$")]
Target = Annotated[str, Field(pattern=TARGET_PATTERN)]
