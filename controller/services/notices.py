"""Notices: the rules run over the database every ``notice_every_s`` (on the leader), each
condition told once per channel, failures retried, a flood suppressed; every notice recorded
(the web UI lists them)."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import utcnow

from ..db.models import Alarm, Broadcast, Delivery, Device, Notice
from ..domain.broadcast import BroadcastState
from ..domain.delivery import DeliveryState
from ..i18n import translate
from ..notices.channels import Channel, ChannelError, Outgoing, SmtpChannel, WebhookChannel
from ..notices.rules import (
    MAX_ATTEMPTS,
    HeldEmergency,
    MissedBulletin,
    NoticeState,
    OpenAlarm,
    find,
    under_limit,
)
from ..notices.rules import Notice as Found
from ..settings import Settings

log = logging.getLogger(__name__)

WEB = "web"
"""The web UI's channel: every notice is listed there, nothing is sent."""

MISSED_WINDOW = timedelta(hours=24)
"""Missed bulletins are looked for among those that started this recently."""


class NoticeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    key: str
    rule: str
    channel: str
    subject: str
    text: str
    state: str
    attempts: int
    error: str | None
    created_at: datetime
    sent_at: datetime | None


def channels_from(settings: Settings) -> list[Channel]:
    """The channels the settings configure (e-mail, webhook), in that order."""
    out: list[Channel] = []
    if settings.notice_smtp_host and settings.notice_smtp_to:
        out.append(
            SmtpChannel(
                settings.notice_smtp_host,
                settings.notice_smtp_port,
                settings.notice_smtp_from,
                settings.notice_smtp_to,
                starttls=settings.notice_smtp_starttls,
                user=settings.notice_smtp_user,
                password=settings.notice_smtp_password,
            )
        )
    if settings.notice_webhook_url:
        out.append(WebhookChannel(settings.notice_webhook_url, settings.notice_webhook_token))
    return out


class Notices:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        channels: list[Channel] | None = None,
    ):
        self._sessions = sessions
        self._settings = settings
        self._channels = channels if channels is not None else channels_from(settings)
        self._zone = ZoneInfo(settings.timezone)

    def tick(self) -> int:
        """Find what to tell, record it once per channel, send it; retry what failed.
        Returns how many messages went out."""
        now = utcnow()
        found = find(
            *self._facts(now),
            now=now,
            confirm_wait=timedelta(seconds=self._settings.notice_confirm_wait_s),
        )
        recorded = self._record(found, now)
        return self._deliver(recorded, now)

    def shown(self, limit: int = 200) -> list[NoticeOut]:
        """Newest first (the web UI's channel)."""
        with self._sessions() as session:
            return [
                NoticeOut.model_validate(n)
                for n in session.scalars(
                    select(Notice)
                    .where(Notice.channel == WEB)
                    .order_by(Notice.id.desc())
                    .limit(limit)
                )
            ]

    def log(self, limit: int = 500) -> list[NoticeOut]:
        """Every channel's record, newest first (sent, failed, suppressed)."""
        with self._sessions() as session:
            return [
                NoticeOut.model_validate(n)
                for n in session.scalars(select(Notice).order_by(Notice.id.desc()).limit(limit))
            ]

    # --- the facts ----------------------------------------------------------------------------

    def _facts(
        self, now: datetime
    ) -> tuple[list[OpenAlarm], list[HeldEmergency], list[MissedBulletin]]:
        with self._sessions() as session:
            devices = {d.id: d for d in session.scalars(select(Device))}

            def villages(device_id: str) -> list[str]:
                d = devices.get(device_id)
                return [z.name for z in d.zones] if d else []

            alarms = [
                OpenAlarm(
                    id=a.id,
                    code=a.code,
                    device_id=a.device_id,
                    cluster=devices[a.device_id].name if a.device_id in devices else a.device_id,
                    villages=villages(a.device_id),
                    raised_at=a.raised_at,
                    channel=a.channel,
                )
                for a in session.scalars(
                    select(Alarm).where(
                        Alarm.cleared_at.is_(None),
                        Alarm.code.in_(("device_offline", "speaker_line")),
                    )
                )
            ]
            held = [
                HeldEmergency(b.id, b.title, b.created_by, b.created_at)
                for b in session.scalars(
                    select(Broadcast).where(Broadcast.state == BroadcastState.pending_confirmation)
                )
            ]
            missed_rows: dict[str, list[str]] = defaultdict(list)
            titles: dict[str, tuple[str, datetime]] = {}
            for delivery, b in session.execute(
                select(Delivery, Broadcast)
                .join(Broadcast)
                .where(
                    Delivery.state == DeliveryState.missed,
                    Broadcast.start_at >= now - MISSED_WINDOW,
                )
                .order_by(Broadcast.start_at)
            ):
                missed_rows[b.id].append(delivery.device_id)
                titles[b.id] = (b.title, b.start_at)
            missed = [
                MissedBulletin(
                    bid,
                    titles[bid][0],
                    titles[bid][1],
                    sorted({v for d in ids for v in villages(d)}),
                    len(ids),
                )
                for bid, ids in missed_rows.items()
            ]
        return alarms, held, missed

    # --- recording and sending ----------------------------------------------------------------

    def _words(self, notice: Found) -> tuple[str, str]:
        lang = self._settings.notice_language
        params = {
            k: self._when(v) if isinstance(v, datetime) else v for k, v in notice.params.items()
        }
        params["station"] = self._settings.station_name
        rule = notice.rule.value
        return (
            translate(f"notice.{rule}.subject", lang, **params),
            translate(f"notice.{rule}.text", lang, **params),
        )

    def _when(self, at: datetime) -> str:
        return at.astimezone(self._zone).strftime("%H:%M %d/%m/%Y")

    def _record(self, found: list[Found], now: datetime) -> list[int]:
        """A row per new (condition, channel); returns the ids to send."""
        names = [WEB, *(c.name for c in self._channels)]
        fresh: list[int] = []
        if not found:
            return fresh
        with self._sessions() as session:
            told = {
                (key, channel)
                for key, channel in session.execute(
                    select(Notice.key, Notice.channel).where(Notice.key.in_([f.key for f in found]))
                )
            }
        for notice in found:
            subject, text = self._words(notice)
            detail = {
                k: v.isoformat() if isinstance(v, datetime) else v for k, v in notice.params.items()
            }
            for name in names:
                if (notice.key, name) in told:
                    continue
                row = Notice(
                    key=notice.key,
                    rule=notice.rule.value,
                    channel=name,
                    subject=subject[:300],
                    text=text,
                    detail=detail,
                    state=(NoticeState.shown if name == WEB else NoticeState.failed).value,
                    created_at=now,
                )
                try:
                    with self._sessions.begin() as session:
                        session.add(row)
                        session.flush()
                        row_id = row.id
                except IntegrityError:  # another pass recorded it first
                    continue
                if name != WEB:
                    fresh.append(row_id)
        return fresh

    def _deliver(self, fresh: list[int], now: datetime) -> int:
        by_name = {c.name: c for c in self._channels}
        with self._sessions() as session:
            retry = list(
                session.scalars(
                    select(Notice.id).where(
                        Notice.state == NoticeState.failed.value, Notice.attempts > 0
                    )
                )
            )
        sent = 0
        for notice_id in [*fresh, *retry]:
            with self._sessions.begin() as session:
                row = session.get(Notice, notice_id)
                if row is None or row.state != NoticeState.failed.value:
                    continue
                channel = by_name.get(row.channel)
                if channel is None:  # a channel since unconfigured
                    row.state, row.error = NoticeState.given_up.value, "channel not configured"
                    continue
                hour = (
                    session.scalar(
                        select(func.count())
                        .select_from(Notice)
                        .where(
                            Notice.channel == row.channel,
                            Notice.state == NoticeState.sent.value,
                            Notice.sent_at >= now - timedelta(hours=1),
                        )
                    )
                    or 0
                )
                if not under_limit(hour, self._settings.notice_per_hour):
                    row.state = NoticeState.suppressed.value
                    log.warning(
                        "notice %s on %s suppressed: %d sent in the last hour",
                        row.key,
                        row.channel,
                        hour,
                    )
                    continue
                message = Outgoing(
                    row.key,
                    row.rule,
                    row.subject,
                    row.text,
                    self._settings.station_name,
                    dict(row.detail),
                )
                row.attempts += 1
                try:
                    channel.send(message)
                except ChannelError as exc:
                    row.error = str(exc)[:500]
                    if row.attempts >= MAX_ATTEMPTS:
                        row.state = NoticeState.given_up.value
                    log.warning("notice %s not sent on %s: %s", row.key, row.channel, exc)
                    continue
                row.state, row.sent_at, row.error = NoticeState.sent.value, utcnow(), None
                sent += 1
        return sent
