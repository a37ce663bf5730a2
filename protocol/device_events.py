"""Events an agent sends beside its plays: what a cluster's microphone heard, what a home
receiver's household did with its knob. Split from ``messages.py`` (which names them in
``AgentEvent``) to keep each module one size."""

from __future__ import annotations

import enum
from typing import Annotated

from msgspec import Meta

from .base import Event, Percent, PlayId


class HeardVerdict(str, enum.Enum):
    """What the cluster's microphone made of one play (edge_agent/hearing/verdict.py)."""

    heard = "heard"
    quiet = "quiet"  # heard, but ``level_db`` below the calibrated level (a horn dead?)
    wrong = "wrong"  # something loud was heard, not what was played
    not_heard = "not_heard"
    uncertain = "uncertain"  # too much noise, or too little of the play to tell
    cannot_check = "cannot_check"  # no working microphone: never counted as not heard


class PlaybackHeardEvent(Event, tag="playback.heard"):
    """The microphone's verdict on a play: features only, never audio. ``level_db``: against
    the calibrated level (None before a calibration); ``delay_ms``: sound to microphone."""

    play_id: PlayId
    broadcast_id: PlayId
    verdict: HeardVerdict
    score: Annotated[float, Meta(ge=-1, le=1)] | None = None
    level_db: Annotated[float, Meta(ge=-150, le=150)] | None = None
    delay_ms: Annotated[int, Meta(ge=0, le=60_000)] | None = None
    snr_db: Annotated[float, Meta(ge=-150, le=150)] | None = None
    detail: Annotated[str, Meta(max_length=300)] = ""


class HearingCalibratedEvent(Event, tag="hearing.calibrated"):
    """A calibration chime was played and heard (``ok``): ``gain_db`` is now the usual level."""

    ok: bool
    gain_db: Annotated[float, Meta(ge=-150, le=150)] | None = None
    snr_db: Annotated[float, Meta(ge=-150, le=150)] | None = None
    detail: Annotated[str, Meta(max_length=300)] = ""


class HouseholdControlsEvent(Event, tag="household.controls"):
    """A home receiver's own controls, sent as they change (its buttons call the agent's
    local control): the household's volume (percent of the indoor scale) and whether it is
    switched on. Off, it plays nothing but emergencies, at the station's floor volume."""

    volume: Percent
    on: bool
