"""A signed order that fits one SMS: what reaches a cluster when the 4G data link is gone.

One line of GSM-7 characters (160 allowed; at most 148 by the fields' bounds)::

    LL1 P Zc41a09be storm 2f 1b9x3k 1b9x9c <86 characters of signature>
    │   │ │         │     │  │      │
    │   │ │         │     │  │      └ valid until (minutes since 1970, base 36)
    │   │ │         │     │  └ valid from (the same)
    │   │ │         │     └ sequence number (base 36), above the last this cluster accepted
    │   │ │         └ the pinned message ("-" for STOP; the frequency in kHz for FM)
    │   │ └ target: A (all), Z + 8 hex of the zone id's hash, D + 8 hex of the device id's
    │   └ action: P play a pinned message, S stop, F relay an FM frequency
    └ format and version

The signature is Ed25519 over ``loalang-sms-v1\\n`` + the text before it, with the key that
signs commands (the sender's number is not trusted). It only ever selects something the
cluster already holds or does (a pinned message, STOP, its own FM tuner): never a URL or a
text to speak. Pure: the caller gives the keys, the clock and the last accepted sequence
number, and persists the new one after accepting.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .envelope import Rejected, Signer
from .keys import InvalidSignature, PublicKey, b64decode, b64encode

MAGIC = "LL1"
DOMAIN = b"loalang-sms-v1\n"
MAX_CHARS = 160
"""One SMS of the GSM 7-bit default alphabet (every character used here is in it)."""
MAX_VALID = timedelta(hours=24)
"""An order is good for a day at most: an SMS can wait in the network, not for ever."""
SLACK = timedelta(minutes=2)
"""The cluster's clock may run this far behind the controller's."""

MESSAGE = re.compile(r"^[a-z0-9][a-z0-9-]{0,15}$")
_LINE = re.compile(
    r"^LL1 (?P<action>[PSF]) (?P<target>A|[ZD][0-9a-f]{8}) (?P<message>[a-z0-9-]{1,16}) "
    r"(?P<seq>[0-9a-z]{1,10}) (?P<start>[0-9a-z]{1,8}) (?P<end>[0-9a-z]{1,8}) "
    r"(?P<sig>[A-Za-z0-9_-]{86})$"
)


PLAY_PREFIX = "sms-"
"""An obeyed order's play is ``sms-<seq>``: the cluster's play reports name it so."""


def play_id(seq: int) -> str:
    return f"{PLAY_PREFIX}{seq}"


def seq_of_play(play: str) -> int | None:
    """The order a play id names, or None if it is not an SMS order's play."""
    if not play.startswith(PLAY_PREFIX):
        return None
    try:
        return int(play.removeprefix(PLAY_PREFIX))
    except ValueError:
        return None


class BadOrder(ValueError):
    """An order no cluster would take: never signed."""


class SmsAction(enum.StrEnum):
    play = "P"  # a pinned message
    stop = "S"
    fm = "F"  # relay an FM frequency with the cluster's own tuner


@dataclass(frozen=True)
class SmsOrder:
    action: SmsAction
    target: str  # "all", "zone:<id>" or "device:<id>"
    message: str  # the pinned message's id; "-" for STOP; kHz for FM ("98500")
    seq: int
    valid_from: datetime
    valid_until: datetime


def short_hash(ident: str) -> str:
    """8 hex of an id's BLAKE2b: a zone or device named in 9 characters, whatever its length
    (a cluster compares with the hashes of its own id and zones)."""
    return hashlib.blake2b(ident.encode(), digest_size=4).hexdigest()


def _target_code(target: str) -> str:
    if target == "all":
        return "A"
    kind, _, ident = target.partition(":")
    if kind == "zone" and ident:
        return "Z" + short_hash(ident)
    if kind == "device" and ident:
        return "D" + short_hash(ident)
    raise BadOrder(f"not a target: {target!r}")


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def _minutes(at: datetime) -> int:
    return int(at.astimezone(UTC).timestamp() // 60)


def _checked(order: SmsOrder) -> None:
    if order.seq < 1:
        raise BadOrder("the sequence number starts at 1")
    if order.action is SmsAction.stop and order.message != "-":
        raise BadOrder('a STOP names no message: "-"')
    if order.action is SmsAction.fm and not order.message.isdigit():
        raise BadOrder("an FM order names a frequency in kHz")
    if order.action is SmsAction.play and not MESSAGE.match(order.message):
        raise BadOrder(f"not a pinned message id: {order.message!r}")
    if not timedelta(0) < order.valid_until - order.valid_from <= MAX_VALID:
        raise BadOrder("valid for more than nothing and at most a day")


def encode_sms(order: SmsOrder, signer: Signer) -> str:
    """The order as one signed SMS text (``BadOrder`` for one no cluster would take)."""
    _checked(order)
    body = " ".join(
        (
            MAGIC,
            order.action.value,
            _target_code(order.target),
            order.message,
            _b36(order.seq),
            _b36(_minutes(order.valid_from)),
            _b36(_minutes(order.valid_until)),
        )
    )
    text = f"{body} {b64encode(signer.sign(DOMAIN + body.encode()))}"
    assert len(text) <= MAX_CHARS, text  # (the fields' bounds make it so)
    return text


def read_sms(
    text: str,
    *,
    keys: Mapping[str, PublicKey],
    device_id: str,
    zones: frozenset[str] | set[str],
    last_seq: int,
    now: datetime,
) -> SmsOrder:
    """The order in an SMS this cluster must obey, or ``Rejected`` with a stable reason:
    ``malformed``, ``bad_signature``, ``wrong_target``, ``replayed`` (a sequence number not
    above ``last_seq``), ``not_yet_valid``, ``expired``. The target is read back as the
    cluster's own id or zone it matched."""
    match = _LINE.match(text.strip())
    if match is None:
        raise Rejected("malformed", "not a Loa Làng SMS order")
    body = text.strip()[: match.start("sig") - 1].encode()
    try:
        signature = b64decode(match["sig"])
    except ValueError:
        raise Rejected("malformed", "signature") from None
    if b64encode(signature) != match["sig"]:  # one text per signature: the last character's
        raise Rejected("malformed", "signature")  # spare bits must be zero
    for key in keys.values():
        try:
            key.verify(signature, DOMAIN + body)
            break
        except InvalidSignature:
            continue
    else:
        raise Rejected("bad_signature", "no trusted key signed it")
    code = match["target"]
    if code == "A":
        target = "all"
    elif code[0] == "D" and code[1:] == short_hash(device_id):
        target = f"device:{device_id}"
    else:
        mine = [z for z in sorted(zones) if code[0] == "Z" and code[1:] == short_hash(z)]
        if not mine:
            raise Rejected("wrong_target", code)
        target = f"zone:{mine[0]}"
    order = SmsOrder(
        action=SmsAction(match["action"]),
        target=target,
        message=match["message"],
        seq=int(match["seq"], 36),
        valid_from=datetime.fromtimestamp(int(match["start"], 36) * 60, UTC),
        valid_until=datetime.fromtimestamp(int(match["end"], 36) * 60, UTC),
    )
    try:
        _checked(order)
    except BadOrder as exc:
        raise Rejected("malformed", str(exc)) from None
    if order.seq <= last_seq:
        raise Rejected("replayed", f"sequence {order.seq} ≤ {last_seq}")
    if now + SLACK < order.valid_from:
        raise Rejected("not_yet_valid", order.valid_from.isoformat())
    if now >= order.valid_until:
        raise Rejected("expired", order.valid_until.isoformat())
    return order
