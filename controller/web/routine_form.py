"""The routine (recurring schedules) as a broadcaster edits it: form fields ↔ ``ScheduleSpec``,
and a schedule told in words. Pure: no I/O, so the mapping is tested on its own.

Simple repetitions get simple fields (every day; some weekdays; one date); anything else a
schedule file may hold stays editable as its RFC 5545 rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any

from pydantic import ValidationError

from ..domain.text import fold
from ..i18n import translate
from ..schedules.model import RelayItem, ScheduleSpec, TextItem, item_media

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
SPARE_ROWS = 1  # one empty programme row beyond what is filled; "Thêm một mục" adds more
PRIORITIES = ("background", "normal", "priority", "emergency")


@dataclass
class RoutineForm:
    """What the edit form shows and sends back, as strings and lists of strings."""

    name: str = ""
    title: str = ""
    villages: list[str] = field(default_factory=list)  # zone ids, or ["all"]
    priority: str = "normal"
    start: str = ""  # HH:MM
    repeat: str = "daily"  # daily | weekly | once | rule
    days: list[str] = field(default_factory=list)  # MO..SU when weekly
    date: str = ""  # YYYY-MM-DD when once
    rrule: str = ""  # when rule
    valid_from: str = ""
    valid_until: str = ""
    except_dates: str = ""  # comma-separated YYYY-MM-DD
    slot_minutes: str = ""
    items: list[dict[str, str]] = field(default_factory=list)  # kind=media|text|relay, sha, ...
    extra_rows: int = 0  # more empty rows asked for ("Thêm một mục")

    def rows(self) -> list[dict[str, str]]:
        """The programme and one empty row (more when asked for)."""
        filled = [r for r in self.items if r.get("kind")]
        return filled + [EMPTY_ROW.copy() for _ in range(SPARE_ROWS + self.extra_rows)]


def derive_name(title: str, taken: set[str] | frozenset[str] = frozenset()) -> str:
    """A schedule's code from its title, as a person would write it without accents
    ("Bản tin sáng" → "ban-tin-sang"), made unique among ``taken``."""
    base = re.sub(r"[^a-z0-9]+", "-", fold(title)).strip("-")[:56] or "lich"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def parse_day(text: str) -> date:
    """A date as a person types it: 06/02/2027 (day first, as in Vietnam) or 2027-02-06."""
    text = text.strip()
    match = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", text)
    if match:
        d, m, y = (int(g) for g in match.groups())
        return date(y, m, d)
    return date.fromisoformat(text)


EMPTY_ROW = {
    "kind": "",
    "sha": "",
    "url": "",
    "minutes": "",
    "fallback": "",
    "text": "",
    "voice": "",
}


def form_from_spec(spec: ScheduleSpec) -> RoutineForm:
    rule = (spec.rrule or "").upper().replace(" ", "")
    parts = dict(p.split("=", 1) for p in rule.split(";") if "=" in p)
    repeat, days = "rule", []
    if spec.date is not None:
        repeat = "once"
    elif parts == {"FREQ": "DAILY"}:
        repeat = "daily"
    elif (
        set(parts) == {"FREQ", "BYDAY"}
        and parts["FREQ"] == "WEEKLY"
        and set(parts["BYDAY"].split(",")) <= set(WEEKDAYS)
    ):
        repeat, days = "weekly", parts["BYDAY"].split(",")
    items = []
    for item in spec.programme:
        if isinstance(item, RelayItem):
            items.append(
                {
                    **EMPTY_ROW,
                    "kind": "relay",
                    "url": item.relay,
                    "minutes": f"{item.duration_s / 60:g}",
                    "fallback": " ".join(item.fallback),
                }
            )
        elif isinstance(item, TextItem):
            items.append(
                {**EMPTY_ROW, "kind": "text", "text": item.text, "voice": item.voice or ""}
            )
        else:
            items.append({**EMPTY_ROW, "kind": "media", "sha": item.media})
    villages = (
        ["all"]
        if "all" in spec.targets
        else [t.partition(":")[2] for t in spec.targets if t.startswith("zone:")]
    )
    return RoutineForm(
        name=spec.name,
        title=spec.title,
        villages=villages,
        priority=spec.priority,
        start=spec.start.strftime("%H:%M"),
        repeat=repeat,
        days=days,
        date=spec.date.isoformat() if spec.date else "",
        rrule=spec.rrule or "" if repeat == "rule" else "",
        valid_from=spec.valid_from.isoformat() if spec.valid_from else "",
        valid_until=spec.valid_until.isoformat() if spec.valid_until else "",
        except_dates=", ".join(d.strftime("%d/%m/%Y") for d in spec.except_dates),
        slot_minutes=str(spec.slot_minutes or ""),
        items=items,
    )


class FormProblems(Exception):
    """Messages (already in the reader's language) for fields the broadcaster must fix."""

    def __init__(self, messages: list[str]):
        super().__init__("; ".join(messages))
        self.messages = messages


def spec_from_form(form: RoutineForm, lang: str, keep: ScheduleSpec | None = None) -> ScheduleSpec:
    """The schedule a filled-in form asks for, or ``FormProblems`` naming every bad field.

    ``keep`` is the stored schedule being edited: what the form does not show (its device
    targets, its own time zone) is kept from it."""
    errors: list[str] = []

    def problem(key: str, **params: Any) -> None:
        errors.append(translate(key, lang, **params))

    def day(text: str, what: str) -> date | None:
        if not text.strip():
            return None
        try:
            return parse_day(text)
        except ValueError:
            problem("routine.bad_date", field=translate(what, lang), value=text.strip()[:20])
            return None

    if not form.title.strip():
        problem("error.title_empty")
    targets = ["all"] if "all" in form.villages else [f"zone:{v}" for v in form.villages]
    if keep is not None:
        targets += [t for t in keep.targets if t.startswith("device:")]
    if not targets:
        problem("error.no_village")
    try:
        start = time.fromisoformat(form.start.strip())
    except ValueError:
        start = None
        problem("routine.bad_start")
    rrule = once = None
    if form.repeat == "daily":
        rrule = "FREQ=DAILY"
    elif form.repeat == "weekly":
        days = [d for d in WEEKDAYS if d in form.days]
        if not days:
            problem("routine.no_days")
        rrule = f"FREQ=WEEKLY;BYDAY={','.join(days)}"
    elif form.repeat == "once":
        once = day(form.date, "routine.date")
        if once is None and not form.date.strip():
            problem("routine.no_date")
    else:
        rrule = form.rrule.strip() or None
        if rrule is None:
            problem("routine.no_rule")
    excepted = [
        d
        for d in (
            day(t, "routine.except_dates") for t in form.except_dates.replace(";", ",").split(",")
        )
        if d
    ]
    slot = None
    if form.slot_minutes.strip():
        if form.slot_minutes.strip().isdigit() and 1 <= int(form.slot_minutes) <= 1440:
            slot = int(form.slot_minutes)
        else:
            problem("routine.bad_slot")
    programme: list[dict[str, Any]] = []
    for number, row in enumerate(form.items, 1):
        if row.get("kind") == "media" and row.get("sha"):
            programme.append({"media": row["sha"]})
        elif row.get("kind") == "text":
            text = row.get("text", "").strip()
            if not text:
                problem("routine.no_text", row=number)
                continue
            programme.append({"text": text, "voice": row.get("voice") or None})
        elif row.get("kind") == "relay":
            url, minutes = row.get("url", "").strip(), row.get("minutes", "").strip()
            try:
                seconds = round(float(minutes.replace(",", ".")) * 60)
            except ValueError:
                seconds = 0
            if not url.startswith(("http://", "https://")) or not 1 <= seconds <= 6 * 3600:
                problem("routine.bad_relay", row=number)
                continue
            programme.append(
                {"relay": url, "duration_s": seconds, "fallback": row.get("fallback", "").split()}
            )
    if not programme:
        problem("routine.no_programme")
    valid_from = day(form.valid_from, "routine.from")
    valid_until = day(form.valid_until, "routine.until")
    if valid_from and valid_until and valid_until < valid_from:
        problem("routine.until_before_from")
    if rrule and ("INTERVAL=" in rrule.upper() or "COUNT=" in rrule.upper()) and not valid_from:
        problem("routine.rule_needs_from")
    if errors:
        raise FormProblems(errors)
    try:
        return ScheduleSpec.model_validate(
            dict(
                name=form.name,
                title=form.title.strip(),
                targets=targets,
                priority=form.priority,
                start=start,
                rrule=rrule,
                date=once,
                valid_from=valid_from,
                valid_until=valid_until,
                except_dates=excepted,
                slot_minutes=slot,
                timezone=keep.timezone if keep else None,
                programme=programme,
            )
        )
    except ValidationError as exc:
        raise FormProblems([_field_message(e, lang) for e in exc.errors()]) from None


_FIELD_KEYS = {
    "name": "setup.bad_id",
    "rrule": "routine.bad_rule",
    "priority": "routine.bad_priority",
}


def _field_message(error: Mapping[str, Any], lang: str) -> str:
    """A pydantic error as a sentence: our own words for the fields a person fills in."""
    loc = error.get("loc") or ("",)
    key = _FIELD_KEYS.get(str(loc[0]))
    if key:
        return translate(key, lang)
    detail = f"{'.'.join(str(p) for p in loc)}: {error.get('msg', '')}".strip(": ")
    return translate("request.invalid", lang, detail=detail)


def repetition(spec: ScheduleSpec, lang: str) -> str:
    """When a schedule plays, in words: "Hằng ngày lúc 05:30", "Thứ Hai, Thứ Năm lúc 18:15"."""
    at = spec.start.strftime("%H:%M")
    form = form_from_spec(spec)
    if form.repeat == "once":
        assert spec.date is not None
        return translate("routine.says_once", lang, date=spec.date.strftime("%d/%m/%Y"), at=at)
    if form.repeat == "daily":
        return translate("routine.says_daily", lang, at=at)
    if form.repeat == "weekly":
        names = ", ".join(translate(f"day.{WEEKDAYS.index(d)}", lang) for d in form.days)
        return translate("routine.says_weekly", lang, days=names, at=at)
    return translate("routine.says_rule", lang, rule=spec.rrule or "", at=at)


def programme_words(spec: ScheduleSpec, media_titles: Mapping[str, str], lang: str) -> list[str]:
    """Each programme item as a line: the bulletin's title, the text read aloud, or the
    relayed stream and minutes."""
    lines = []
    for item in spec.programme:
        if isinstance(item, RelayItem):
            lines.append(
                translate(
                    "routine.says_relay", lang, url=item.relay, minutes=f"{item.duration_s / 60:g}"
                )
            )
        elif isinstance(item, TextItem):
            words = item.text if len(item.text) <= 80 else item.text[:79] + "…"
            lines.append(translate("routine.says_text", lang, text=words))
        else:
            lines.append(media_titles.get(item.media) or item.media[:12] + "…")
    return lines


def media_of(spec: ScheduleSpec) -> list[str]:
    """The bulletins a programme plays (sha256, in order, once each), for listening to it."""
    return list(dict.fromkeys(sha for sha in map(item_media, spec.programme) if sha))


def differences(
    old: ScheduleSpec,
    new: ScheduleSpec,
    media_titles: Mapping[str, str],
    lang: str,
    place: Any = None,
) -> list[tuple[str, str, str]]:
    """What an edit changes, for the approver: (what, before, after) per changed part, in
    words. ``place`` turns targets into village names."""

    def where(spec: ScheduleSpec) -> str:
        return place(list(spec.targets)) if place else ", ".join(spec.targets)

    def days(spec: ScheduleSpec) -> str:
        return ", ".join(d.strftime("%d/%m/%Y") for d in spec.except_dates)

    parts = [
        ("routine.title_label", old.title, new.title),
        ("routine.when", repetition(old, lang), repetition(new, lang)),
        ("send.villages", where(old), where(new)),
        (
            "send.priority",
            translate(f"priority.{old.priority}", lang),
            translate(f"priority.{new.priority}", lang),
        ),
        (
            "routine.programme",
            " · ".join(programme_words(old, media_titles, lang)),
            " · ".join(programme_words(new, media_titles, lang)),
        ),
        ("routine.from", str(old.valid_from or "—"), str(new.valid_from or "—")),
        ("routine.until", str(old.valid_until or "—"), str(new.valid_until or "—")),
        ("routine.except_dates", days(old) or "—", days(new) or "—"),
    ]
    return [
        (translate(key, lang), before, after) for key, before, after in parts if before != after
    ]
