"""Envelope signing and checking: properties over arbitrary inputs (Hypothesis)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from controller.keys import public_of
from protocol.envelope import (
    CanonicalJsonError,
    Rejected,
    canonical_json,
    sign,
    verify,
)
from protocol.messages import (
    CommandPayload,
    MediaRef,
    PlayCommand,
    SetZonesCommand,
    StopCommand,
    to_builtins,
)
from tests.support.signing import KEY, KEYS, KID, NOW, NOW_MS

ids = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True)
texts = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=40)  # one line
targets = st.one_of(
    st.just("all"), ids.map(lambda i: f"device:{i}"), ids.map(lambda i: f"zone:{i}")
)


@st.composite
def bodies(draw, latest: datetime):
    kind = draw(st.sampled_from(["play", "stop", "zones"]))
    if kind == "stop":
        return StopCommand(reason=draw(texts))
    if kind == "zones":
        return SetZonesCommand(zones=draw(st.lists(ids, max_size=5)))
    return PlayCommand(
        play_id=draw(ids),
        broadcast_id=draw(ids),
        title=draw(texts),
        start_at=min(
            latest,
            NOW
            + timedelta(
                seconds=draw(st.integers(-3600, 0)), microseconds=draw(st.integers(0, 999_999))
            )
            + draw(st.timedeltas(timedelta(0), latest - NOW)),
        ),
        media=MediaRef(
            sha256=draw(st.from_regex(r"[0-9a-f]{64}", fullmatch=True)),
            url="/media/x",
            size=draw(st.integers(1, 2**40)),
            duration_ms=draw(st.integers(1, 10**8)),
        ),
        volume=draw(st.none() | st.integers(0, 100)),
    )


@st.composite
def payloads(draw):
    not_after = NOW + timedelta(seconds=draw(st.integers(1, 80_000)))
    return CommandPayload(
        kid=KID,
        cmd_id=draw(ids),
        target=draw(targets),
        issued_at=NOW - timedelta(seconds=draw(st.integers(0, 3600))),
        not_after=not_after,
        seq=draw(st.integers(1, NOW_MS)),
        body=draw(bodies(not_after)),
    )


def _check(raw: bytes, payload: CommandPayload, last_seq=None) -> CommandPayload:
    kind, _, ident = payload.target.partition(":")
    device = ident if kind == "device" else "me"
    zones = {ident} if kind == "zone" else set()
    return verify(raw, keys=KEYS, device_id=device, zones=zones, last_seq=last_seq or {}, now=NOW)


@given(payloads())
@settings(max_examples=200)
def test_signed_envelope_round_trips(payload):
    assert _check(sign(payload, KEY), payload) == payload


@given(payloads(), st.data())
@settings(max_examples=200)
def test_any_change_to_a_signed_byte_is_refused(payload, data):
    raw = sign(payload, KEY)
    envelope = json.loads(raw)
    body = canonical_json(envelope["payload"])
    i = data.draw(st.integers(0, len(body) - 1))
    flipped = body[:i] + bytes([body[i] ^ (1 << data.draw(st.integers(0, 6)))]) + body[i + 1 :]
    try:
        changed = json.loads(flipped)
    except (ValueError, UnicodeDecodeError):
        changed = None  # no longer JSON: not a meaningful forgery
    assume(isinstance(changed, dict) and canonical_json(changed) != body)
    forged = json.dumps({"payload": changed, "sig": envelope["sig"]}).encode()
    with pytest.raises(Rejected) as exc:
        _check(forged, payload)
    assert exc.value.reason in ("bad_signature", "unknown_key", "malformed")


@given(st.binary(max_size=2000))
@settings(max_examples=300)
def test_garbage_is_refused_never_crashes(raw):
    with pytest.raises(Rejected):
        verify(raw, keys=KEYS, device_id="me", zones=set(), last_seq={}, now=NOW)


@given(payloads(), st.integers(0, NOW_MS))
def test_sequence_must_increase(payload, last):
    raw = sign(payload, KEY)
    if payload.seq > last:
        assert _check(raw, payload, {payload.target: last}) == payload
    else:
        with pytest.raises(Rejected) as exc:
            _check(raw, payload, {payload.target: last})
        assert exc.value.reason == "replayed"


def _play(**over) -> CommandPayload:
    fields = dict(
        kid=KID,
        cmd_id="c1",
        target="device:loa-1",
        issued_at=NOW,
        not_after=NOW + timedelta(minutes=5),
        seq=10,
        body=StopCommand(),
    )
    fields.update(over)
    return CommandPayload(**fields)


@pytest.mark.parametrize(
    ("over", "device", "zones", "reason"),
    [
        ({"target": "device:loa-2"}, "loa-1", set(), "wrong_target"),
        ({"target": "zone:thon-tay"}, "loa-1", {"thon-dong"}, "wrong_target"),
        ({"not_after": NOW - timedelta(seconds=1)}, "loa-1", set(), "expired"),
        (
            {"issued_at": NOW + timedelta(hours=1), "not_after": NOW + timedelta(hours=2)},
            "loa-1",
            set(),
            "not_yet_valid",
        ),
    ],
)
def test_refusal_reasons(over, device, zones, reason):
    payload = _play(**over)
    with pytest.raises(Rejected) as exc:
        verify(sign(payload, KEY), keys=KEYS, device_id=device, zones=zones, last_seq={}, now=NOW)
    assert exc.value.reason == reason
    assert exc.value.cmd_id == "c1"


def test_zone_and_all_targets_reach_members():
    for target, zones in (("zone:thon-dong", {"thon-dong"}), ("all", set())):
        payload = _play(target=target)
        assert (
            verify(
                sign(payload, KEY), keys=KEYS, device_id="loa-1", zones=zones, last_seq={}, now=NOW
            )
            == payload
        )


def test_oversized_and_unknown_key_and_missing_signature():
    with pytest.raises(Rejected) as exc:
        verify(
            b"{" + b" " * (1024 * 1024 + 1) + b"}",
            keys=KEYS,
            device_id="x",
            zones=set(),
            last_seq={},
            now=NOW,
        )
    assert exc.value.reason == "malformed"
    other = Ed25519PrivateKey.generate()
    payload = _play(kid=public_of(other).kid)
    with pytest.raises(Rejected) as exc:
        verify(
            sign(payload, other), keys=KEYS, device_id="loa-1", zones=set(), last_seq={}, now=NOW
        )
    assert exc.value.reason == "unknown_key"
    bare = json.dumps({"payload": to_builtins(_play())}).encode()
    with pytest.raises(Rejected) as exc:
        verify(bare, keys=KEYS, device_id="loa-1", zones=set(), last_seq={}, now=NOW)
    assert exc.value.reason == "unsigned"


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=20,
    )
)
def test_canonical_json_is_stable_and_parseable(value):
    once = canonical_json(value)
    assert canonical_json(json.loads(once)) == once


def test_canonical_json_refuses_floats():
    with pytest.raises(CanonicalJsonError):
        canonical_json({"volume": 0.5})


def test_the_last_accepted_command_again_is_a_duplicate_an_older_one_a_replay():
    payload = _play()
    raw = sign(payload, KEY)
    for last_cmd, reason in (
        ({"device:loa-1": "c1"}, "duplicate"),
        ({"device:loa-1": "other"}, "replayed"),
        (None, "replayed"),
    ):
        with pytest.raises(Rejected) as exc:
            verify(
                raw,
                keys=KEYS,
                device_id="loa-1",
                zones=set(),
                last_seq={"device:loa-1": 10},
                last_cmd=last_cmd,
                now=NOW,
            )
        assert exc.value.reason == reason


@pytest.mark.parametrize(
    ("over", "says"),
    [
        ({"seq": 2**64}, "beyond the clock"),
        ({"seq": 2**53 + 1}, "beyond the clock"),
        ({"seq": NOW_MS + 3_600_000}, "beyond the clock"),  # an hour ahead of the clock
        ({"not_after": NOW + timedelta(days=2)}, "longer than a stop"),
        (
            {"body": SetZonesCommand(zones=["a"]), "not_after": NOW + timedelta(days=30)},
            "longer than a set_zones",
        ),
    ],
)
def test_absurd_values_signed_with_the_real_key_are_refused(over, says):
    """A sequence number of 2^64 once blocked every later command to its device for good."""
    payload = _play(**over)
    with pytest.raises(Rejected) as exc:
        verify(sign(payload, KEY), keys=KEYS, device_id="loa-1", zones=set(), last_seq={}, now=NOW)
    assert exc.value.reason == "malformed"
    assert says in exc.value.detail
    ok = _play(seq=NOW_MS + 60_000)  # a burst a minute ahead of the clock is fine
    assert (
        verify(sign(ok, KEY), keys=KEYS, device_id="loa-1", zones=set(), last_seq={}, now=NOW) == ok
    )


def test_the_signer_s_canonical_form_is_the_checker_s_for_every_character():
    """The canonical bytes are made with msgspec; they must be what json.dumps (the form
    documented, and what another implementation would write) gives for every character, or a
    title with that character would never verify elsewhere."""
    import json

    from protocol.envelope import canonical_json

    text = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    value = {"z": [text[i : i + 5000] for i in range(0, len(text), 5000)], "a": {"b": 1, "A": None}}
    assert (
        canonical_json(value)
        == json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )


def test_the_agents_verifier_checks_what_the_controllers_signer_signs():
    """The agent verifies with libsodium (PyNaCl), the controller signs with OpenSSL
    (``cryptography``): both agree with RFC 8032's test vectors and with each other, and a
    signature one bit off, or of other bytes, or by another key, is refused."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from protocol.keys import InvalidSignature, PublicKey

    # RFC 8032 section 7.1, TEST 1 and TEST 2
    for secret, public, message, signature in (
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
            "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
            "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
    ):
        key = PublicKey(bytes.fromhex(public))
        key.verify(bytes.fromhex(signature), bytes.fromhex(message))
        signer = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret))
        assert signer.sign(bytes.fromhex(message)).hex() == signature
        assert public_of(signer) == key
    message = b'{"payload": "canonical bytes"}'
    signature = KEY.sign(message)
    public_of(KEY).verify(signature, message)
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    for bad_sig, bad_msg, key in (
        (flipped, message, public_of(KEY)),
        (signature, message + b" ", public_of(KEY)),
        (signature, message, public_of(Ed25519PrivateKey.generate())),
        (signature[:63], message, public_of(KEY)),
    ):
        with pytest.raises(InvalidSignature):
            key.verify(bad_sig, bad_msg)
