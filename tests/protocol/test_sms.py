"""The signed SMS order (issue 30): fits one SMS of GSM-7 characters, signed by the
controller's key (cryptography) and checked by the agent's (libsodium), and refused for
every reason a forged, replayed, stale or someone else's message should be."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.envelope import Rejected
from protocol.keys import PublicKey
from protocol.sms import MAX_CHARS, BadOrder, SmsAction, SmsOrder, encode_sms, read_sms

# the GSM 03.38 default alphabet's printable ASCII part (what every handset and modem keeps)
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
NOW = datetime(2026, 12, 6, 8, 30, tzinfo=UTC)
SIGNER = Ed25519PrivateKey.generate()
KEYS = {"k": PublicKey(SIGNER.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))}
ZONES = {"ban-na", "thon-dong"}


def _order(**changes) -> SmsOrder:
    fields = dict(
        action=SmsAction.play,
        target="zone:ban-na",
        message="storm-evacuate",
        seq=47,
        valid_from=NOW - timedelta(minutes=1),
        valid_until=NOW + timedelta(hours=6),
    )
    fields.update(changes)
    return SmsOrder(**fields)


def _read(text: str, last_seq: int = 46, now: datetime = NOW, device: str = "loa-na-1"):
    return read_sms(text, keys=KEYS, device_id=device, zones=ZONES, last_seq=last_seq, now=now)


@pytest.mark.parametrize(
    ("target", "read_as"),
    [("all", "all"), ("zone:ban-na", "zone:ban-na"), ("device:loa-na-1", "device:loa-na-1")],
)
def test_an_order_fits_one_sms_and_reads_back(target, read_as):
    text = encode_sms(_order(target=target), SIGNER)
    assert len(text) <= MAX_CHARS
    assert set(text) <= GSM7
    order = _read(text)
    assert order.target == read_as
    assert (order.action, order.message, order.seq) == (SmsAction.play, "storm-evacuate", 47)
    assert order.valid_from == NOW - timedelta(minutes=1)  # (to the minute)


def test_stop_and_fm_orders():
    stop = _read(encode_sms(_order(action=SmsAction.stop, message="-", target="all"), SIGNER))
    assert (stop.action, stop.message) == (SmsAction.stop, "-")
    fm = _read(encode_sms(_order(action=SmsAction.fm, message="98500"), SIGNER))
    assert (fm.action, fm.message) == (SmsAction.fm, "98500")


@pytest.mark.parametrize(
    ("text_of", "reason"),
    [
        (lambda t: t.replace(" storm-evacuate ", " all-clear "), "bad_signature"),
        (lambda t: t.replace(" P ", " S "), "bad_signature"),
        (lambda t: t[:-9] + ("A" if t[-9] != "A" else "B") + t[-8:], "bad_signature"),
        (lambda t: "Khẩn cấp! Mở http://x.vn", "malformed"),
        (lambda t: t + " thêm", "malformed"),
        (lambda t: "", "malformed"),
    ],
)
def test_a_changed_or_foreign_text_is_refused(text_of, reason):
    text = encode_sms(_order(), SIGNER)
    with pytest.raises(Rejected) as refused:
        _read(text_of(text))
    assert refused.value.reason == reason


def test_refused_when_signed_by_another_key_for_elsewhere_replayed_or_stale():
    other = Ed25519PrivateKey.generate()
    with pytest.raises(Rejected, match="bad_signature"):
        _read(encode_sms(_order(), other))
    cases = [
        (_order(target="zone:thon-tay"), {}, "wrong_target"),
        (_order(target="device:loa-dong-1"), {}, "wrong_target"),
        (_order(seq=46), {}, "replayed"),
        (_order(), {"last_seq": 47}, "replayed"),
        (_order(valid_from=NOW + timedelta(minutes=10)), {}, "not_yet_valid"),
        (_order(valid_until=NOW), {}, "expired"),
    ]
    for order, kw, reason in cases:
        with pytest.raises(Rejected) as refused:
            _read(encode_sms(order, SIGNER), **kw)
        assert refused.value.reason == reason, order
    # a clock a minute behind still takes an order valid from now
    _read(encode_sms(_order(valid_from=NOW + timedelta(minutes=1)), SIGNER))


def test_an_order_no_cluster_would_take_is_never_signed():
    for bad in (
        _order(valid_until=NOW + timedelta(hours=30)),  # longer than a day
        _order(action=SmsAction.stop, message="storm"),  # STOP names nothing
        _order(action=SmsAction.fm, message="vov1"),  # a frequency is a number
        _order(message="https://x.vn/a.mp3"),  # never a URL
        _order(message="Bão"),
        _order(seq=0),
        _order(target="village:x"),
    ):
        with pytest.raises(BadOrder):
            encode_sms(bad, SIGNER)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=200), st.characters(codec="ascii"))
def test_no_change_of_one_character_is_obeyed_as_something_else(position, char):
    text = encode_sms(_order(), SIGNER)
    i = position % len(text)
    changed = text[:i] + char + text[i + 1 :]
    if changed == text:
        return
    try:
        order = _read(changed)
    except Rejected:
        return
    assert changed.strip() == text  # (only spaces around it are ignored)
    assert order == _read(text)


def test_the_longest_order_the_bounds_allow_still_fits_one_sms():
    longest = _order(message="m" * 16, seq=36**10 - 1, target="device:" + "x" * 64)
    text = encode_sms(longest, SIGNER)
    assert len(text) <= 148
    assert _read(text, device="x" * 64).seq == 36**10 - 1


def test_one_signature_has_one_text():
    """The last base64 character carries 2 bits of the signature and 4 spare ones: a text
    that differs only there is not the same order sent again under another spelling."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    text = encode_sms(_order(), SIGNER)
    spare = alphabet[alphabet.index(text[-1]) + 1]  # the same 2 bits, a spare bit set
    with pytest.raises(Rejected) as refused:
        _read(text[:-1] + spare)
    assert refused.value.reason == "malformed"


OTHER = encode_sms(_order(message="flood", seq=48, target="all"), SIGNER)
"""A second valid order: pieces of it spliced into the first must not make a third."""


@st.composite
def mutated(draw) -> str:
    """A valid SMS changed as a network, a forger or a replay might: truncated, cut short,
    characters inserted, deleted or replaced, fields swapped or re-ordered, pieces of another
    valid order spliced in, letters' case changed."""
    text = encode_sms(_order(), SIGNER)
    fields = text.split(" ")
    kind = draw(
        st.sampled_from(["truncate", "insert", "delete", "replace", "swap", "splice", "case"])
    )
    if kind == "truncate":
        return text[: draw(st.integers(0, len(text) - 1))]
    if kind == "insert":
        i = draw(st.integers(0, len(text)))
        return text[:i] + draw(st.text(alphabet=sorted(GSM7), min_size=1, max_size=5)) + text[i:]
    if kind == "delete":
        i = draw(st.integers(0, len(text) - 1))
        return text[:i] + text[i + draw(st.integers(1, 5)) :]
    if kind == "replace":
        i = draw(st.integers(0, len(text) - 1))
        return text[:i] + draw(st.characters(codec="ascii")) + text[i + 1 :]
    if kind == "swap":
        i, j = draw(st.integers(0, len(fields) - 1)), draw(st.integers(0, len(fields) - 1))
        fields[i], fields[j] = fields[j], fields[i]
        return " ".join(fields)
    if kind == "splice":
        other = OTHER.split(" ")
        i = draw(st.integers(0, len(fields) - 1))
        fields[i] = other[i]
        return " ".join(fields)
    i = draw(st.integers(0, len(text) - 1))
    return text[:i] + text[i].swapcase() + text[i + 1 :]


@settings(max_examples=1500, deadline=None)
@given(mutated())
def test_no_mutated_sms_is_obeyed(changed):
    """1,500 mutations of a valid order: each is refused, or is that very order."""
    original = encode_sms(_order(), SIGNER)
    try:
        order = _read(changed)
    except Rejected as refused:
        reason = refused.reason
    else:
        reason = None
    if reason is not None:
        assert reason in {"malformed", "bad_signature", "wrong_target", "replayed"}
        return
    assert changed.strip() == original
    assert order == _read(original)
