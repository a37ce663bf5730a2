"""One signing key for the envelope tests, and the moment they are signed at."""

from __future__ import annotations

from datetime import datetime, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controller.keys import public_of

KEY = Ed25519PrivateKey.generate()
KID = public_of(KEY).kid
KEYS = {KID: public_of(KEY)}
NOW = datetime(2026, 11, 22, 5, 30, tzinfo=timezone.utc)
NOW_MS = int(NOW.timestamp() * 1000)  # sequence numbers follow the clock in milliseconds
