"""The one catalogue of user-facing text: Vietnamese first, English second.

Code never hard-codes user-facing sentences; it names a key and this module turns it into the
reader's language. ``messages.py`` holds refusals and results (shared by the API, the pages
and the CLI), ``ui.py`` the words of the web pages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..domain.outcome import reason_of
from .messages import MESSAGES
from .ui import UI

DEFAULT_LANGUAGE = "vi"
LANGUAGES = ("vi", "en")

_CATALOGUE: dict[str, dict[str, str]] = {**MESSAGES, **UI}


def pick_language(accept_language: str | None) -> str:
    """First supported language in an Accept-Language header; Vietnamese when none matches."""
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE


def has(key: str) -> bool:
    return key in _CATALOGUE


def translate(key: str, lang: str = DEFAULT_LANGUAGE, **params: Any) -> str:
    """The text of ``key`` in ``lang`` (Vietnamese if it has no such translation)."""
    entry = _CATALOGUE[key]
    text = entry.get(lang) or entry[DEFAULT_LANGUAGE]
    return text.format(**params) if params else text


def translate_or(key: str, lang: str, fallback: str) -> str:
    """The text of ``key`` if the catalogue has it, else ``fallback`` (a code from a device
    that this controller has no words for)."""
    entry = _CATALOGUE.get(key)
    return (entry.get(lang) or entry[DEFAULT_LANGUAGE]) if entry else fallback


def state_words(value: str, lang: str) -> str:
    """A broadcast or delivery state in words (the code itself if it has none)."""
    entry = _CATALOGUE.get(f"st.{value}")
    return (entry.get(lang) or entry[DEFAULT_LANGUAGE]) if entry else value


DEVICE_STATES = ("online", "offline", "stopped")
"""A device's statuses that have words; anything else reads as unknown."""


def device_state_words(status: str, lang: str) -> str:
    """A device's status in words (online, offline, stopped; otherwise unknown)."""
    return translate(f"state.{status}" if status in DEVICE_STATES else "state.unknown", lang)


def local_time(iso: str, tz: str | None) -> str:
    """An ISO instant as the station reads it: "08:35 06/12" (as given if it is not one)."""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if tz:
        moment = moment.astimezone(ZoneInfo(tz))
    return moment.strftime("%H:%M %d/%m")


def reason_words(reason: str | None, lang: str, tz: str | None = None) -> str:
    """A delivery's stored reason in words (``domain/outcome.py`` knows our reasons); a time
    in it is shown in ``tz`` (the station's)."""
    found = reason_of(reason)
    if found is None:
        return ""
    params = dict(found.params)
    if "since" in params:
        params["since"] = local_time(params["since"], tz)
    if "priority" in params:
        params["priority"] = translate(f"priority.{params['priority']}", lang)
    if found.key == "reason.stop" and not params.get("who"):
        params["who"] = "—"
    try:
        return translate(found.key, lang, **params)
    except KeyError:
        return reason or ""


def heard_words(hearing: dict[str, Any] | None, lang: str) -> str:
    """A play's verdict from the cluster's microphone, in words ("" when none came)."""
    if not hearing or hearing.get("verdict") not in HEARD_VERDICTS:
        return ""
    level = hearing.get("level_db")
    db = f"{-level:.0f}" if isinstance(level, (int, float)) else "?"
    return translate(f"heard.{hearing['verdict']}", lang, db=db)


HEARD_VERDICTS = ("heard", "quiet", "wrong", "not_heard", "uncertain", "cannot_check")


def alarm_detail_words(
    code: str, channel: int | None, value: float | None, detail: str, lang: str
) -> str:
    """What an alarm's reading means, in words a broadcaster uses (the agent's ``detail`` is
    an English line for the log: "line 2: 0 mA", "0 MB free"); other alarms keep it."""
    if code == "speaker_line" and channel is not None:
        return translate("alarm.detail.speaker_line", lang, line=channel + 1)
    if code == "disk_low" and value is not None:
        if value < 1:
            return translate("alarm.detail.disk_full", lang)
        return translate("alarm.detail.disk_low", lang, mb=f"{value:.0f}")
    if code == "battery_low" and value is not None:
        return translate("alarm.detail.battery", lang, v=f"{value:.1f}")
    if code == "over_temperature" and value is not None:
        return translate("alarm.detail.temperature", lang, c=f"{value:.0f}")
    if code == "hearing" and detail in ("not_heard", "quiet", "wrong"):
        db = f"{-value:.0f}" if value is not None else "?"
        return translate(f"alarm.detail.hearing_{detail}", lang, db=db)
    if code == "microphone":
        return translate("alarm.detail.microphone", lang, detail=detail)
    if code in ("mains_lost", "mcu_unreachable"):
        return ""  # (the alarm's own words say it all)
    return detail
