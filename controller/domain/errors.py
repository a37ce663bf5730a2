"""Refusals a user can act on, raised by services and mapped to HTTP once (``controller.errors``).

Each carries a catalogue key and its parameters, so every face (JSON API, web pages, CLI) says
what went wrong in the reader's language.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal: a message key (``controller.i18n``) and the values it names."""

    def __init__(self, key: str, **params: Any):
        super().__init__(key)
        self.key = key
        self.params = params


class Invalid(DomainError):
    """The request is well-formed but cannot be honoured as given (a past time, no village)."""


class NotFound(DomainError):
    """What it names does not exist (or is retired)."""


class Conflict(DomainError):
    """The thing exists but is in a state that does not allow this (already sent, decided)."""


class NotAllowed(DomainError):
    """This person may not do this (the same person approving their own, a role missing)."""


class Unauthenticated(DomainError):
    """No valid credentials (a wrong password, no token)."""


class Locked(DomainError):
    """Too many failed attempts: try again later."""


class TooLarge(DomainError):
    """A body or file above the limit."""


class Unsupported(DomainError):
    """A file that is not audio, or a format not accepted."""


class Unavailable(DomainError):
    """A component the request needs is down right now (the broker)."""
