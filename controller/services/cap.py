"""CAP 1.2 alerts from warning centres become broadcasts: checked, matched once per (sender,
identifier), mapped to villages by their areas and to an action by the station's rules,
spoken by the station's voice (or played from the alert's own audio once its digest checks),
and released by two people unless the feed's policy says otherwise. Every alert is recorded
with what was done, and audited.

The answer never waits for speech: the alert is recorded and answered at once, and its
audio is made on a worker (``speech`` in the record says how far it is). On a feed trusted to
release on its own, an emergency whose words select a pinned message (``cap/pinned.py``)
sounds that message at once — every cluster holds it on disk, nothing to render or fetch —
and the spoken alert follows it."""

from __future__ import annotations

import hmac
import logging
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import Priority, utcnow

from ..auth import Principal, Role
from ..cap.alert import Alert, CapInvalid, Info, parse
from ..cap.decision import Decision, Verdict, decide
from ..cap.pinned import pinned_for
from ..cap.rules import CapRule, zones_for
from ..db.models import Broadcast, CapAlert, Device, Zone
from ..domain.broadcast import BroadcastState
from ..domain.errors import Conflict, DomainError, Invalid, Unauthenticated
from ..settings import CapFeed, Settings
from .audit import AuditLog
from .broadcasting import BroadcastRequest, BroadcastService
from .media import MediaService
from .pinned import PinnedService
from .repeats import RepeatService
from .speech import SpeechPart, SpeechService

log = logging.getLogger(__name__)

MAX_AUDIO_BYTES = 50 * 2**20
MAX_REPEAT_S = 7 * 86400
LOST_AFTER = timedelta(minutes=10)
AFTER_PINNED_S = 1.0
"""The gap between a pinned message sounded at once and the spoken alert that follows it."""


class Speech:
    """How far an alert's own audio is: made on a worker after the answer."""

    none = ""  # nothing to say (logged, cancelled, no area)
    pending = "pending"
    done = "done"
    refused = "refused"


@dataclass(frozen=True)
class CapOutcome:
    """What became of an alert: ``action`` (emergency, advisory, test, logged, ignored,
    no_area, cancelled), the broadcast made if any, and whether it had been seen before."""

    alert_id: int
    action: str
    broadcast_id: str | None
    duplicate: bool = False
    zones: tuple[str, ...] = ()
    speech: str = Speech.none
    pinned: str | None = None  # the pinned message sounded at once


@dataclass(frozen=True)
class _Sounding:
    """What the worker makes once the alert is recorded: the alert's own audio, broadcast to
    ``zones`` (after the pinned message's play when one went first)."""

    feed_name: str
    who: Principal
    info: Info
    rule: CapRule
    zones: frozenset[str]
    emergency: bool
    test: bool
    start: datetime | None
    auto: bool
    after: str | None  # the pinned message's broadcast


class CapService:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        broadcasts: BroadcastService,
        repeats: RepeatService,
        speech: SpeechService,
        media: MediaService,
        audit: AuditLog,
        pinned: PinnedService,
    ):
        self._settings = settings
        self._pinned = pinned
        self._workers = ThreadPoolExecutor(2, thread_name_prefix="cap-speech")
        self._sessions = sessions
        self._broadcasts = broadcasts
        self._repeats = repeats
        self._speech = speech
        self._media = media
        self._audit = audit

    def close(self) -> None:
        self._workers.shutdown(wait=False, cancel_futures=True)

    def feed_for(self, token: str) -> str:
        """The feed a token belongs to (compared in constant time)."""
        for name, feed in self._settings.cap_feeds.items():
            if token and feed.token and hmac.compare_digest(token.encode(), feed.token.encode()):
                return name
        raise Unauthenticated("cap.bad_token")

    def receive(self, feed_name: str, document: bytes) -> CapOutcome:
        """Act on one CAP document from ``feed_name``; malformed or expired → Invalid (and
        audited), nothing broadcast."""
        feed = self._settings.cap_feeds[feed_name]
        who = Principal(username=f"cap:{feed_name}", roles=frozenset({Role.broadcaster}))
        try:
            alert = parse(document)
        except CapInvalid as exc:
            self._audit.record(
                who, "cap.receive", "", "refused", where=exc.where, problem=exc.problem
            )
            raise Invalid("cap.invalid", where=exc.where, problem=exc.problem) from None
        seen = self._seen(alert)
        if seen is not None:
            return seen
        decision = decide(alert, utcnow(), self._settings.cap_rules, feed.test_zone)
        if decision.verdict == Verdict.refuse:
            assert decision.info is not None
            assert decision.info.expires is not None
            self._audit.record(who, "cap.receive", alert.identifier, "refused", problem="expired")
            raise Invalid("cap.expired", expires=decision.info.expires.isoformat())
        action, broadcast_id, zones, detail, sounding = self._act(
            feed_name, feed, who, alert, decision
        )
        outcome = self._store(feed_name, alert, action, broadcast_id, zones, detail)
        if sounding is not None and not outcome.duplicate:
            self._workers.submit(self._sound, outcome.alert_id, sounding)
        self._audit.record(
            who,
            "cap.receive",
            alert.identifier,
            status=alert.status,
            msg_type=alert.msg_type,
            did=action,
            broadcast=broadcast_id,
            zones=sorted(zones),
        )
        return outcome

    def list(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._sessions() as session:
            return [
                dict(
                    id=a.id,
                    feed=a.feed,
                    sender=a.sender,
                    identifier=a.identifier,
                    sent=a.sent,
                    status=a.status,
                    msg_type=a.msg_type,
                    action=a.action,
                    broadcast_id=a.broadcast_id,
                    speech=_speech_of(a),
                    pinned=a.detail.get("pinned"),
                    spoken_broadcast_id=a.detail.get("spoken_broadcast_id"),
                    detail=a.detail,
                    received_at=a.received_at,
                )
                for a in session.scalars(select(CapAlert).order_by(CapAlert.id.desc()).limit(limit))
            ]

    # --- what to do -----------------------------------------------------------------------

    def _seen(self, alert: Alert) -> CapOutcome | None:
        with self._sessions() as session:
            row = session.scalar(
                select(CapAlert).where(
                    CapAlert.sender == alert.sender, CapAlert.identifier == alert.identifier
                )
            )
            if row is None:
                return None
            return _outcome(row, duplicate=True)

    def _act(
        self, feed_name: str, feed: CapFeed, who: Principal, alert: Alert, decision: Decision
    ) -> tuple[str, str | None, set[str], dict[str, Any], _Sounding | None]:
        """What is done before answering: cancellations, the villages, and on an automatic
        feed the matching pinned message sounded at once; the alert's own audio is left to
        the worker (the returned sounding)."""
        info = decision.info
        detail: dict[str, Any] = {"headline": info.headline if info else ""}
        if decision.cancels:
            detail["cancelled"] = self._cancel_referenced(who, alert)
        if decision.verdict != Verdict.sound:
            return decision.action, None, set(), detail, None
        assert info is not None
        assert decision.rule is not None
        rule, test = decision.rule, decision.test
        detail["rule"] = rule.model_dump()
        zones = {feed.test_zone} if test and feed.test_zone else self._zones(info)
        detail["zones"] = sorted(zones)
        if not zones:
            return "no_area", None, zones, detail, None
        emergency = rule.action == "emergency" and not test
        now = utcnow()
        start = None
        if not emergency and info.onset is not None and info.onset > now + timedelta(minutes=1):
            start = info.onset
        auto = feed.policy == "auto"
        first = self._pinned_first(feed_name, who, info, zones) if emergency and auto else None
        if first is not None:
            detail["pinned"], broadcast_id = first
        else:
            broadcast_id = None
        detail["speech"] = Speech.pending
        sounding = _Sounding(
            feed_name,
            who,
            info,
            rule,
            frozenset(zones),
            emergency,
            test,
            start,
            auto,
            broadcast_id,
        )
        return ("test" if test else rule.action), broadcast_id, zones, detail, sounding

    def _pinned_first(
        self, feed_name: str, who: Principal, info: Info, zones: set[str]
    ) -> tuple[str, str] | None:
        """The pinned message the alert names, broadcast and released at once: (its id, the
        broadcast); None when no message matches or it cannot be sent."""
        messages = self._pinned.messages()
        chosen = pinned_for(info, [(m.id, m.cap_words) for m in messages])
        if chosen is None:
            return None
        message = next(m for m in messages if m.id == chosen)
        try:
            broadcast_id = self._broadcasts.create(
                BroadcastRequest(
                    media_sha256=message.media_sha256,
                    targets=[f"zone:{z}" for z in sorted(zones)],
                    title=f"{message.title} — {(info.headline or info.event)}"[:200],
                    priority=Priority.emergency,
                ),
                who,
            )
            self._release(feed_name, broadcast_id)
        except DomainError as exc:
            log.warning("CAP: pinned message %s not sounded: %s", chosen, exc)
            return None
        return chosen, broadcast_id

    def _sound(self, alert_id: int, work: _Sounding) -> None:
        """The worker: the alert's own audio made and broadcast (after the pinned message when
        one went first); the record says what became of it. Never raises."""
        try:
            broadcast_id = self._spoken(work)
        except (CapInvalid, DomainError) as exc:  # quiet hours, no voice, a bad digest…
            self._settle(alert_id, None, getattr(exc, "key", None) or str(exc))
        except Exception as exc:  # a worker's failure is recorded, not lost
            log.exception("CAP alert %s: its audio was not made", alert_id)
            self._settle(alert_id, None, f"internal: {exc.__class__.__name__}")
        else:
            self._settle(alert_id, broadcast_id, None)

    def _spoken(self, work: _Sounding) -> str | None:
        media = self._audio(work.who, work.info)
        start = work.start
        if work.after is not None:
            start = self._end_of(work.after)
        request = BroadcastRequest(
            media_sha256=media,
            targets=[f"zone:{z}" for z in sorted(work.zones)],
            start_at=start,
            title=(work.info.headline or work.info.event)[:200],
            priority=Priority.emergency if work.emergency else Priority.priority,
        )
        info, rule = work.info, work.rule
        if rule.repeat_every_min and not work.test:  # until it expires (48 plays at most)
            now = utcnow()
            until = (info.expires - (start or now)).total_seconds() if info.expires else None
            broadcast_id = self._repeats.create(
                work.who,
                request,
                rule.repeat_every_min * 60,
                None if until is None else max(1, min(int(until), MAX_REPEAT_S)),
            )
        else:
            broadcast_id = self._broadcasts.create(request, work.who)
        if work.auto:
            self._release(work.feed_name, broadcast_id)
        return broadcast_id

    def _end_of(self, broadcast_id: str) -> datetime | None:
        """When the pinned message's play ends (plus a breath): the spoken alert's start."""
        with self._sessions() as session:
            row = session.get(Broadcast, broadcast_id)
            if row is None or row.start_at is None:
                return None
            duration_ms = self._media.get(row.media_sha256).duration_ms if row.media_sha256 else 0
            end = row.start_at + timedelta(milliseconds=duration_ms, seconds=AFTER_PINNED_S)
        return end if end > utcnow() + timedelta(seconds=AFTER_PINNED_S) else None

    def _settle(self, alert_id: int, broadcast_id: str | None, refused: str | None) -> None:
        """Record what became of the alert's audio; a broadcast made for an alert cancelled
        meanwhile is cancelled in turn."""
        withdrawn = False
        with self._sessions.begin() as session:
            row = session.get(CapAlert, alert_id)
            if row is None:
                return
            detail = dict(row.detail)
            if refused is not None:
                detail["speech"], detail["refused"] = Speech.refused, refused
                if row.broadcast_id is None:
                    row.action = "refused"
            else:
                detail["speech"], detail["spoken_broadcast_id"] = Speech.done, broadcast_id
                if row.broadcast_id is None:
                    row.broadcast_id = broadcast_id
            withdrawn = bool(detail.get("withdrawn"))
            row.detail = detail
        if withdrawn and broadcast_id is not None:
            self._withdraw(
                broadcast_id,
                Principal(username="cap", roles=frozenset({Role.approver})),
                "CAP Cancel",
            )

    def _release(self, feed_name: str, broadcast_id: str) -> None:
        """A feed trusted to release on its own (policy ``auto``): audited as such."""
        releaser = Principal(username=f"cap:{feed_name}:auto", roles=frozenset({Role.approver}))
        self._broadcasts.release_held(broadcast_id, releaser)

    def _cancel_referenced(self, who: Principal, alert: Alert) -> list[str]:
        """Cancel (or reject, while held) what the referenced alerts made; one whose audio is
        still being made is marked, so its broadcast is withdrawn when it comes."""
        ids: list[str] = []
        with self._sessions.begin() as session:
            for sender, identifier, _ in alert.references:
                for row in session.scalars(
                    select(CapAlert).where(
                        CapAlert.sender == sender, CapAlert.identifier == identifier
                    )
                ):
                    row.detail = {**row.detail, "withdrawn": True}
                    made = [row.broadcast_id, row.detail.get("spoken_broadcast_id")]
                    ids += [b for b in made if b and b not in ids]
        reason = f"CAP {alert.msg_type}"
        return [b for b in ids if self._withdraw(b, who, reason)]

    def _withdraw(self, broadcast_id: str, who: Principal, reason: str) -> bool:
        try:
            if self._broadcasts.state_of(broadcast_id) in BroadcastState.held():
                self._broadcasts.reject(broadcast_id, who, reason)
            else:
                self._broadcasts.cancel(broadcast_id, who)
        except (Conflict, DomainError):
            return False  # over already
        return True

    def _zones(self, info: Info) -> set[str]:
        with self._sessions() as session:
            codes = {z.id: list(z.geocodes or []) for z in session.scalars(select(Zone))}
            places = [
                (d.latitude, d.longitude, [z.id for z in d.zones])
                for d in session.scalars(
                    select(Device).where(
                        Device.retired.is_(False),
                        Device.latitude.is_not(None),
                        Device.longitude.is_not(None),
                    )
                )
            ]
        return zones_for(
            info.areas,
            codes,
            [(lat, lon, z) for lat, lon, z in places if lat is not None and lon is not None],
        )

    def _audio(self, who: Principal, info: Info) -> str:
        """The alert's own audio (digest checked), else its text spoken."""
        for resource in info.resources:
            if not resource.mime.startswith("audio/"):
                continue
            content = resource.data if resource.data is not None else self._fetch(resource.uri)
            if content is None:
                continue
            resource.checked(content)
            with tempfile.TemporaryDirectory(prefix="loalang-cap-") as tmp:
                path = Path(tmp) / "alert-audio"
                path.write_bytes(content)
                media, _ = self._media.ingest(who, path, "cap-audio", info.headline or info.event)
            return media.sha256
        language = info.language.split("-")[0].lower() or "vi"
        if not info.text:
            raise Invalid("cap.nothing_to_say")
        media, _ = self._speech.render(
            who, [SpeechPart(language, info.text)], info.headline or info.event
        )
        return media.sha256

    @staticmethod
    def _fetch(uri: str | None) -> bytes | None:
        if not uri or not uri.startswith(("http://", "https://")):
            return None
        try:
            with httpx.stream("GET", uri, timeout=30, follow_redirects=True) as response:
                response.raise_for_status()
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_AUDIO_BYTES:
                        raise Invalid("cap.audio_too_large")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            log.warning("CAP resource %s not fetched: %s", uri, exc)
            return None

    def _store(
        self,
        feed: str,
        alert: Alert,
        action: str,
        broadcast_id: str | None,
        zones: set[str],
        detail: dict[str, Any],
    ) -> CapOutcome:
        try:
            with self._sessions.begin() as session:
                row = CapAlert(
                    feed=feed,
                    sender=alert.sender,
                    identifier=alert.identifier,
                    sent=alert.sent,
                    status=alert.status,
                    msg_type=alert.msg_type,
                    action=action,
                    broadcast_id=broadcast_id,
                    detail={**detail, "zones": sorted(zones)},
                    received_at=utcnow(),
                )
                session.add(row)
                session.flush()
                return _outcome(row)
        except IntegrityError:  # the same alert at the same moment from another request
            seen = self._seen(alert)
            assert seen is not None
            return seen


def _outcome(row: CapAlert, duplicate: bool = False) -> CapOutcome:
    return CapOutcome(
        row.id,
        row.action,
        row.broadcast_id,
        duplicate=duplicate,
        zones=tuple(row.detail.get("zones", [])),
        speech=row.detail.get("speech", Speech.none),
        pinned=row.detail.get("pinned"),
    )


def _speech_of(row: CapAlert) -> str:
    """How far its audio is; one still "pending" long after it came was lost with the
    controller that was making it (a worker takes seconds): said as refused."""
    speech = row.detail.get("speech", Speech.none)
    lost = speech == Speech.pending and utcnow() - row.received_at > LOST_AFTER
    return Speech.refused if lost else speech
