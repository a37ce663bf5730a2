"""The tables of the path that works when the data link is gone: the station's pinned
emergency messages and the SMS orders that sound them (``controller/services/pinned.py``,
``controller/services/sms_orders.py``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..domain.sms import SmsState
from .models import Base, EnumText, UtcDateTime, _now


class PinnedMessage(Base):
    """One of the station's pinned emergency messages (every cluster keeps them on disk); the
    set's version is the site setting ``pinned_version``."""

    __tablename__ = "pinned_messages"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    media_sha256: Mapped[str] = mapped_column(ForeignKey("media.sha256"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    cap_words: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Words of a CAP alert's event or headline that select this message (``cap/pinned.py``)."""
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)
    updated_by: Mapped[str] = mapped_column(String(64), default="system")


class SmsOrder(Base):
    """An SMS order sent to one cluster (``protocol/sms.py``), and what became of it: sent,
    failed to send, received (and played) or refused, as the cluster reported."""

    __tablename__ = "sms_orders"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    phone: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(String(20))
    broadcast_id: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)
    text: Mapped[str] = mapped_column(String(160))
    channel: Mapped[str] = mapped_column(String(20), default="")
    state: Mapped[SmsState] = mapped_column(EnumText(SmsState, 12), default=SmsState.sending)
    detail: Mapped[str] = mapped_column(String(300), default="")
    sends: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(64), default="system")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    valid_until: Mapped[datetime] = mapped_column(UtcDateTime)
    reported_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    played_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
