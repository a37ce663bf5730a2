"""How a notice reaches a person: e-mail over SMTP, or a JSON POST to a webhook (chat and
SMS gateways take JSON over HTTPS). Each channel has a name and one ``send`` that raises
``ChannelError`` when the message did not go."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol

import httpx


class ChannelError(Exception):
    """The message did not go (the text says why); it is tried again later."""


@dataclass(frozen=True)
class Outgoing:
    key: str
    rule: str
    subject: str
    text: str
    station: str
    detail: dict[str, Any]


class Channel(Protocol):
    name: str

    def send(self, message: Outgoing) -> None: ...


class SmtpChannel:
    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: list[str],
        *,
        starttls: bool = False,
        user: str | None = None,
        password: str | None = None,
        timeout: float = 15.0,
    ):
        self._host, self._port, self._sender = host, port, sender
        self._recipients = recipients
        self._starttls, self._user, self._password = starttls, user, password
        self._timeout = timeout

    def send(self, message: Outgoing) -> None:
        mail = EmailMessage()
        mail["From"] = self._sender
        mail["To"] = ", ".join(self._recipients)
        mail["Subject"] = message.subject
        mail["X-Loalang-Key"] = message.key
        mail.set_content(f"{message.text}\n\n— {message.station}")
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                if self._starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self._user:
                    smtp.login(self._user, self._password or "")
                smtp.send_message(mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise ChannelError(f"SMTP {self._host}:{self._port}: {exc}") from exc


class WebhookChannel:
    name = "webhook"

    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0):
        self._url = url
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = timeout

    def send(self, message: Outgoing) -> None:
        body = {
            "key": message.key,
            "rule": message.rule,
            "subject": message.subject,
            "text": message.text,
            "station": message.station,
            "detail": message.detail,
        }
        try:
            r = httpx.post(self._url, json=body, headers=self._headers, timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise ChannelError(f"webhook: {exc}") from exc
        if r.status_code >= 300:
            raise ChannelError(f"webhook: HTTP {r.status_code} {r.text[:200]}")
