"""The controller's Ed25519 signing keys: created in the data dir, never leave it.

One key signs (``controller-ed25519.pem``). A rotation makes the next one
(``next-ed25519.pem``), which devices are told to trust while the current one still signs;
promoting it makes it the one that signs and keeps the old one's public half in
``retired/`` (devices are told to refuse it)."""

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

from protocol.keys import PublicKey

KEY_FILE = "controller-ed25519.pem"
NEXT_FILE = "next-ed25519.pem"


def public_of(private: Ed25519PrivateKey) -> PublicKey:
    """The public half, as the wire contract holds keys."""
    return PublicKey(private.public_key().public_bytes_raw())


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey
    kid: str

    @property
    def public_b64(self) -> str:
        return public_of(self.private).text


def _read(path: Path) -> SigningKey:
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return SigningKey(private=key, kid=public_of(key).kid)


def _create(path: Path) -> SigningKey:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return SigningKey(private=key, kid=public_of(key).kid)


def load_or_create(keys_dir: Path) -> SigningKey:
    """Load the signing key, creating it (mode 0600) on first start."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    path = keys_dir / KEY_FILE
    return _read(path) if path.exists() else _create(path)


class KeyRing:
    """The key that signs, the next one while devices learn it, and the retired ones.

    Several controllers may share one keys folder (``Settings.shared_dir``): a key made or
    promoted by one is read by the others at their next command (one ``stat`` per use)."""

    def __init__(self, keys_dir: Path):
        self.dir = keys_dir
        self._active = load_or_create(keys_dir)
        self._next: SigningKey | None = None
        self._seen: tuple[int, int] = (-1, -1)
        self._reload()

    def _stamp(self) -> tuple[int, int]:
        def mtime(name: str) -> int:
            try:
                return (self.dir / name).stat().st_mtime_ns
            except FileNotFoundError:
                return 0

        return mtime(KEY_FILE), mtime(NEXT_FILE)

    def _reload(self) -> None:
        stamp = self._stamp()
        if stamp == self._seen:
            return
        if stamp[0] != self._seen[0] and stamp[0]:
            self._active = _read(self.dir / KEY_FILE)
        self._next = _read(self.dir / NEXT_FILE) if stamp[1] else None
        self._seen = stamp

    @property
    def active(self) -> SigningKey:
        self._reload()
        return self._active

    @property
    def next(self) -> SigningKey | None:
        self._reload()
        return self._next

    def retired(self) -> list[str]:
        folder = self.dir / "retired"
        return sorted(p.stem for p in folder.glob("*.pub")) if folder.is_dir() else []

    def make_next(self) -> SigningKey:
        """The next key (made once; asking again gives the same one until it is promoted)."""
        if self.next is None:
            _create(self.dir / NEXT_FILE)
        assert self.next is not None
        return self.next

    def promote(self) -> SigningKey:
        """The next key signs from now on; the old one's public half goes to ``retired/``.
        Returns the old key."""
        if self.next is None:
            raise ValueError("no next key to promote")
        old = self.active
        folder = self.dir / "retired"
        folder.mkdir(exist_ok=True)
        (folder / f"{old.kid}.pub").write_text(old.public_b64 + "\n")
        os.replace(self.dir / NEXT_FILE, self.dir / KEY_FILE)  # one rename: never no key
        self._reload()
        return old
