"""The controller's Ed25519 signing key: created once in the data dir, never leaves it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from protocol.envelope import dump_public_key, key_id

KEY_FILE = "controller-ed25519.pem"


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey
    kid: str

    @property
    def public_b64(self) -> str:
        return dump_public_key(self.private.public_key())


def load_or_create(keys_dir: Path) -> SigningKey:
    """Load the signing key, creating it (mode 0600) on first start."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    path = keys_dir / KEY_FILE
    if path.exists():
        key = load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
    else:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    return SigningKey(private=key, kid=key_id(key.public_key()))
