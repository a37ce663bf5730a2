"""An Ed25519 public key as the wire and the configs carry it (32 raw bytes, base64url), its
key id, and the check of a signature by it. The check is libsodium's, through PyNaCl: a Pi
needs no OpenSSL bindings (the controller signs with ``cryptography``; the tests prove each
side against the other)."""

from __future__ import annotations

import base64
import hashlib

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

KEY_BYTES = 32


class InvalidSignature(ValueError):
    """The signature is not this key's over these bytes."""


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PublicKey:
    __slots__ = ("_check", "raw")

    def __init__(self, raw: bytes):
        if len(raw) != KEY_BYTES:
            raise ValueError("an Ed25519 public key is 32 bytes")
        self.raw = bytes(raw)
        self._check = VerifyKey(self.raw)

    @classmethod
    def from_text(cls, text: str) -> PublicKey:
        """From its base64url raw form (as written in the agent's config and commands)."""
        return cls(b64decode(text.strip()))

    @property
    def text(self) -> str:
        return b64encode(self.raw)

    @property
    def kid(self) -> str:
        """Short stable id: first 16 hex digits of the SHA-256 of the raw bytes."""
        return hashlib.sha256(self.raw).hexdigest()[:16]

    def verify(self, signature: bytes, message: bytes) -> None:
        """Raises :class:`InvalidSignature` unless ``signature`` is this key's over
        ``message`` (64 bytes, strict RFC 8032 checks as libsodium makes them)."""
        if len(signature) != 64:
            raise InvalidSignature("an Ed25519 signature is 64 bytes")
        try:
            self._check.verify(message, signature)
        except BadSignatureError:
            raise InvalidSignature("not this key's signature") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        return f"PublicKey({self.kid})"
