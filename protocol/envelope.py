"""Canonical JSON, Ed25519 signing and the checks an agent runs before obeying a command.

Pure functions, no I/O: the caller supplies keys, the clock and the last accepted sequence
numbers, and persists the new sequence number after acceptance.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, Protocol

import msgspec

from .keys import InvalidSignature, PublicKey, b64decode, b64encode
from .messages import (
    CommandPayload,
    Invalid,
    Message,
    RetireKeyCommand,
    TrustKeyCommand,
    decode,
    encode,
)


class SignedEnvelope(Message):
    """What travels on a command topic: the payload and an Ed25519 signature over its
    canonical JSON."""

    payload: dict[str, Any]
    sig: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


MAX_ENVELOPE_BYTES = 1024 * 1024
"""Anything larger on a command or plan topic is refused before parsing (a 48 h plan of a busy
device is a few tens of KB)."""

DEFAULT_FUTURE_TOLERANCE = timedelta(minutes=5)
"""How far ``issued_at`` may lie ahead of the agent's clock (clock error, not a replay window)."""
SEQ_MAX = 2**53
"""No sequence number above this (the largest integer every JSON reader keeps exactly)."""
SEQ_AHEAD = timedelta(minutes=10)
"""Sequence numbers follow the controller's wall clock in milliseconds (a burst may run a
little ahead): one far above now would block every later command to its target."""
MAX_VALIDITY: dict[str, timedelta] = {
    "play": timedelta(days=1),
    "prepare": timedelta(days=1),
    "stop": timedelta(days=1),
    "cancel": timedelta(days=7),
    "set_zones": timedelta(days=7),
    "set_volume": timedelta(days=7),
    "plan": timedelta(days=7),
    "trust_key": timedelta(days=7),
    "retire_key": timedelta(days=7),
    "update": timedelta(days=7),
    "pin": timedelta(days=7),
    "calibrate_hearing": timedelta(days=1),
}
"""The longest a command of each kind may be valid (``not_after − issued_at``); a play's
``start_at`` (each of a plan's) may also lie at most this long before ``issued_at`` (a late
send still joins in step) and never after ``not_after``."""
PLAN_TOPIC_KINDS = frozenset({"plan"})
"""The only command kind a plan topic carries; a command topic carries every other kind."""


class CanonicalJsonError(ValueError):
    """The value cannot be put in canonical form (floats, non-string keys, NaN)."""


def _check_canonical(value: Any) -> None:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        return
    if isinstance(value, float):
        raise CanonicalJsonError("floats are not allowed in signed payloads; use integers")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalJsonError("object keys must be strings")
            _check_canonical(item)
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_canonical(item)
        return
    raise CanonicalJsonError(f"type {type(value).__name__} is not JSON")


def _refuse_float(text: str) -> Any:
    raise CanonicalJsonError("floats are not allowed in signed payloads; use integers")


def canonical_json(value: Any) -> bytes:
    """UTF-8 JSON with sorted keys, no spaces and no floats: the bytes that get signed.

    Restricting signed values to strings, integers, booleans, null, lists and objects makes
    the form unambiguous in every language (it is a subset of RFC 8785): what
    ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` writes,
    made by msgspec at a sixth of the cost (the same escapes for every code point, tested).
    """
    _check_canonical(value)
    return _canonical.encode(value)


_canonical = msgspec.json.Encoder(order="sorted")


class Signer(Protocol):
    """What signs: the controller's Ed25519 private key (``cryptography``'s has this
    method); the agent never signs, so the wire contract does not import it."""

    def sign(self, data: bytes) -> bytes: ...


def key_id(key: PublicKey) -> str:
    """Short stable id of a public key: first 16 hex digits of the SHA-256 of its raw bytes."""
    return key.kid


def load_public_key(text: str) -> PublicKey:
    """Public key from its base64url raw form (as written in the agent's config)."""
    return PublicKey.from_text(text)


def dump_public_key(key: PublicKey) -> str:
    return key.text


def sign(payload: CommandPayload, private_key: Signer) -> bytes:
    """Serialise ``payload`` into a signed envelope, ready to publish.

    The payload is decoded back first, so nothing is signed that an agent would refuse as
    malformed (constructing a message does not validate it)."""
    data = encode(payload)
    decode(data, CommandPayload)  # raises ValueError on anything out of its bounds
    # Parsed JSON holds only JSON types and string keys; a float is the one thing that
    # cannot be signed, and the parser reports each (walking every value instead took 40 %
    # of signing 5,000 plans).
    body = json.loads(data, parse_float=_refuse_float, parse_constant=_refuse_float)
    canonical = _canonical.encode(body)  # canonical_json without a walk: floats refused above
    signature = private_key.sign(canonical)
    # the envelope holds the signed bytes themselves: no third serialisation
    return b'{"payload": ' + canonical + b', "sig": "' + b64encode(signature).encode() + b'"}'


class Rejected(Exception):
    """A command the agent must not obey; ``reason`` is a stable code reported to the controller."""

    def __init__(self, reason: str, detail: str = "", payload: Mapping[str, Any] | None = None):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.payload = dict(payload) if isinstance(payload, Mapping) else {}

    @property
    def cmd_id(self) -> str | None:
        value = self.payload.get("cmd_id")
        return value if isinstance(value, str) else None


def target_matches(target: str, device_id: str, zones: frozenset[str] | set[str]) -> bool:
    """Whether a command addressed to ``target`` concerns this device."""
    if target == "all":
        return True
    kind, _, ident = target.partition(":")
    return (kind == "device" and ident == device_id) or (kind == "zone" and ident in zones)


def verify(
    raw: bytes,
    *,
    keys: Mapping[str, PublicKey],
    device_id: str,
    zones: frozenset[str] | set[str],
    last_seq: Mapping[str, int],
    now: datetime,
    last_cmd: Mapping[str, str] | None = None,
    future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE,
    plan_topic: bool = False,
) -> CommandPayload:
    """Return the command if every check passes, else raise :class:`Rejected`.

    Checks, in order: size and shape (no key twice in an object), known key id, signature,
    payload schema (strict: no coercion, booleans are no numbers), the kind its topic carries
    (``plan_topic``: plans only, else no plans), target, expiry, issue time not in the future,
    validity no longer than its kind's, start times inside the validity, sequence not beyond
    the clock (nor 2^53), sequence above the last accepted for that target.
    The last accepted command itself arriving again (same sequence number and, per
    ``last_cmd``, same command id) is ``duplicate``: an MQTT QoS 1 redelivery, not a replay.
    """
    if len(raw) > MAX_ENVELOPE_BYTES:
        raise Rejected("malformed", f"envelope of {len(raw)} bytes is too large")
    try:
        envelope = decode(raw, SignedEnvelope)
    except Invalid as exc:
        raise Rejected("unsigned" if b'"sig"' not in raw else "malformed", _short(exc)) from None
    repeated = _repeated_key(raw)
    if repeated is not None:
        raise Rejected("malformed", f"key {repeated[:40]!r} appears twice in one object")
    payload = envelope.payload
    kid = payload.get("kid")
    if not isinstance(kid, str) or kid not in keys:
        raise Rejected("unknown_key", f"key id {kid!r} is not pinned on this device", payload)
    try:
        signature = b64decode(envelope.sig)
        if b64encode(signature) != envelope.sig:  # one signature, one spelling
            raise ValueError("signature not in canonical base64url")
        keys[kid].verify(signature, canonical_json(payload))
    except (InvalidSignature, ValueError, CanonicalJsonError) as exc:
        raise Rejected("bad_signature", type(exc).__name__, payload) from None
    try:
        command = msgspec.convert(payload, CommandPayload)
    except Invalid as exc:
        raise Rejected("malformed", _short(exc), payload) from None
    if (command.body.type in PLAN_TOPIC_KINDS) != plan_topic:
        raise Rejected(
            "wrong_topic",
            f"a {command.body.type} command on a {'plan' if plan_topic else 'command'} topic",
            payload,
        )
    if not target_matches(command.target, device_id, zones):
        raise Rejected("wrong_target", f"addressed to {command.target}", payload)
    if now > command.not_after:
        raise Rejected("expired", f"not after {command.not_after.isoformat()}", payload)
    if command.issued_at > now + future_tolerance:
        raise Rejected("not_yet_valid", f"issued at {command.issued_at.isoformat()}", payload)
    longest = MAX_VALIDITY.get(command.body.type, timedelta(days=1))
    if command.not_after - command.issued_at > longest:
        raise Rejected(
            "malformed", f"valid for longer than a {command.body.type} may be ({longest})", payload
        )
    if not _key_change_holds(command):
        raise Rejected(
            "malformed", "a key announced under another key id, or a key retiring itself", payload
        )
    for start in _start_times(command.body):
        if not command.issued_at - longest <= start <= command.not_after:
            raise Rejected(
                "malformed", f"start {start.isoformat()} outside the command's validity", payload
            )
    ahead_ms = int((now + future_tolerance + SEQ_AHEAD).timestamp() * 1000)
    if command.seq > min(SEQ_MAX, ahead_ms):
        raise Rejected("malformed", f"sequence {command.seq} is beyond the clock", payload)
    previous = last_seq.get(command.target, 0)
    if command.seq == previous and last_cmd and last_cmd.get(command.target) == command.cmd_id:
        raise Rejected("duplicate", f"command {command.cmd_id} again", payload)
    if command.seq <= previous:
        raise Rejected("replayed", f"sequence {command.seq} not above {previous}", payload)
    return command


def _key_change_holds(command: CommandPayload) -> bool:
    """A ``trust_key`` names its key by its own id; a ``retire_key`` is signed by another."""
    body = command.body
    if isinstance(body, TrustKeyCommand):
        try:
            return key_id(load_public_key(body.key)) == body.kid
        except ValueError:
            return False
    if isinstance(body, RetireKeyCommand):
        return body.kid != command.kid
    return True


def _start_times(body: Any) -> list[datetime]:
    start = getattr(body, "start_at", None)
    if isinstance(start, datetime):
        return [start]
    return [entry.start_at for entry in getattr(body, "entries", ())]


class _RepeatedKey(Exception):
    pass


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _RepeatedKey(key)
        seen[key] = value
    return seen


def _repeated_key(raw: bytes) -> str | None:
    """A key that appears twice in one object of ``raw`` (already known to be JSON), if any:
    readers disagree on which one counts, so a signed command must not have one."""
    try:
        json.loads(raw, object_pairs_hook=_no_repeats)
    except _RepeatedKey as exc:
        return str(exc.args[0])
    return None


def _short(exc: Exception) -> str:
    return str(exc)[:200]
