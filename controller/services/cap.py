"""CAP 1.2 alerts from warning centres become broadcasts: checked, matched once per (sender,
identifier), mapped to villages by their areas and to an action by the station's rules,
spoken by the station's voice (or played from the alert's own audio once its digest checks),
and released by two people unless the feed's policy says otherwise. Every alert is recorded
with what was done, and audited."""

from __future__ import annotations

import hmac
import logging
import tempfile
from dataclasses import dataclass
from datetime import timedelta
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
from ..cap.rules import zones_for
from ..db.models import CapAlert, Device, Zone
from ..domain.broadcast import BroadcastState
from ..domain.errors import Conflict, DomainError, Invalid, Unauthenticated
from ..settings import CapFeed, Settings
from .audit import AuditLog
from .broadcasting import BroadcastRequest, BroadcastService
from .media import MediaService
from .repeats import RepeatService
from .speech import SpeechPart, SpeechService

log = logging.getLogger(__name__)

MAX_AUDIO_BYTES = 50 * 2**20
MAX_REPEAT_S = 7 * 86400


@dataclass(frozen=True)
class CapOutcome:
    """What became of an alert: ``action`` (emergency, advisory, test, logged, ignored,
    no_area, cancelled), the broadcast made if any, and whether it had been seen before."""

    alert_id: int
    action: str
    broadcast_id: str | None
    duplicate: bool = False
    zones: tuple[str, ...] = ()


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
    ):
        self._settings = settings
        self._sessions = sessions
        self._broadcasts = broadcasts
        self._repeats = repeats
        self._speech = speech
        self._media = media
        self._audit = audit

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
        action, broadcast_id, zones, detail = self._act(feed_name, feed, who, alert, decision)
        outcome = self._store(feed_name, alert, action, broadcast_id, zones, detail)
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
            return CapOutcome(
                row.id,
                row.action,
                row.broadcast_id,
                duplicate=True,
                zones=tuple(row.detail.get("zones", [])),
            )

    def _act(
        self, feed_name: str, feed: CapFeed, who: Principal, alert: Alert, decision: Decision
    ) -> tuple[str, str | None, set[str], dict[str, Any]]:
        info = decision.info
        detail: dict[str, Any] = {"headline": info.headline if info else ""}
        if decision.cancels:
            detail["cancelled"] = self._cancel_referenced(who, alert)
        if decision.verdict != Verdict.sound:
            return decision.action, None, set(), detail
        assert info is not None
        assert decision.rule is not None
        rule, test = decision.rule, decision.test
        detail["rule"] = rule.model_dump()
        zones = {feed.test_zone} if test and feed.test_zone else self._zones(info)
        detail["zones"] = sorted(zones)
        if not zones:
            return "no_area", None, zones, detail
        emergency = rule.action == "emergency" and not test
        now = utcnow()
        start = None
        if not emergency and info.onset is not None and info.onset > now + timedelta(minutes=1):
            start = info.onset
        try:
            request = BroadcastRequest(
                media_sha256=self._audio(who, info),
                targets=[f"zone:{z}" for z in sorted(zones)],
                start_at=start,
                title=(info.headline or info.event)[:200],
                priority=Priority.emergency if emergency else Priority.priority,
            )
            if rule.repeat_every_min and not test:  # until it expires (48 plays at most)
                until = (info.expires - (start or now)).total_seconds() if info.expires else None
                broadcast_id = self._repeats.create(
                    who,
                    request,
                    rule.repeat_every_min * 60,
                    None if until is None else max(1, min(int(until), MAX_REPEAT_S)),
                )
            else:
                broadcast_id = self._broadcasts.create(request, who)
        except (CapInvalid, DomainError) as exc:  # quiet hours, no voice, a bad digest…
            detail["refused"] = getattr(exc, "key", None) or str(exc)
            return "refused", None, zones, detail
        if feed.policy == "auto":
            self._release(feed_name, broadcast_id)
        return ("test" if test else rule.action), broadcast_id, zones, detail

    def _release(self, feed_name: str, broadcast_id: str) -> None:
        """A feed trusted to release on its own (policy ``auto``): audited as such."""
        releaser = Principal(username=f"cap:{feed_name}:auto", roles=frozenset({Role.approver}))
        self._broadcasts.release_held(broadcast_id, releaser)

    def _cancel_referenced(self, who: Principal, alert: Alert) -> list[str]:
        cancelled = []
        with self._sessions() as session:
            ids = [
                row.broadcast_id
                for sender, identifier, _ in alert.references
                for row in session.scalars(
                    select(CapAlert).where(
                        CapAlert.sender == sender, CapAlert.identifier == identifier
                    )
                )
                if row.broadcast_id
            ]
        for broadcast_id in ids:
            try:
                if self._broadcasts.state_of(broadcast_id) in BroadcastState.held():
                    self._broadcasts.reject(broadcast_id, who, f"CAP {alert.msg_type}")
                else:
                    self._broadcasts.cancel(broadcast_id, who)
                cancelled.append(broadcast_id)
            except (Conflict, DomainError):
                pass  # over already
        return cancelled

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
                return CapOutcome(row.id, action, broadcast_id, zones=tuple(sorted(zones)))
        except IntegrityError:  # the same alert at the same moment from another request
            seen = self._seen(alert)
            assert seen is not None
            return seen
