"""Mutations of valid signed envelopes (Hypothesis, 10,000 cases): none is accepted but the
valid one. Each case changes one thing: a value's type or bounds re-signed with the real key
(strict types, no coercion), any change without re-signing, a key written twice, the topic."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from protocol.envelope import (
    CanonicalJsonError,
    Rejected,
    b64encode,
    canonical_json,
    sign,
    verify,
)
from protocol.messages import (
    CommandPayload,
    MediaRef,
    PlanCommand,
    PlanEntry,
    PlayCommand,
    Priority,
    SetVolumeCommand,
    StopCommand,
    StreamRef,
)
from tests.support.signing import KEY, KEYS, KID, NOW

SHA = "ab" * 32
MEDIA = MediaRef(sha256=SHA, url=f"/media/{SHA}", size=48_000, duration_ms=30_000)


def _payload(body: Any, cmd_id: str = "c1") -> CommandPayload:
    return CommandPayload(
        kid=KID,
        cmd_id=cmd_id,
        target="device:loa-1",
        issued_at=NOW,
        not_after=NOW + timedelta(hours=1),
        seq=int(NOW.timestamp() * 1000),
        body=body,
    )


VALID = [
    _payload(
        PlayCommand(
            play_id="b1",
            broadcast_id="b1",
            title="Bản tin sáng",
            start_at=NOW + timedelta(minutes=2),
            priority=Priority.emergency,
            volume=80,
            media=MEDIA,
        )
    ),
    _payload(
        PlayCommand(
            play_id="r1",
            broadcast_id="r1",
            start_at=NOW,
            stream=StreamRef(
                url="http://vov.example/vov1", duration_s=600, fallback_urls=["http://b.example/x"]
            ),
        )
    ),
    _payload(StopCommand(reason="web")),
    _payload(SetVolumeCommand(level=60)),
]
PLAN = _payload(
    PlanCommand(
        version="v1",
        window_start=NOW,
        window_end=NOW + timedelta(hours=1),
        entries=[PlanEntry(play_id="p1", start_at=NOW + timedelta(minutes=5), media=MEDIA)],
    )
)

# Values of every JSON type but floats (those cannot be signed); a leaf is replaced by one of
# another type, or by an out-of-bounds one of its own type.
OTHER_TYPE: dict[type, list[Any]] = {
    int: ["7", True, False, None, [], {}, "", -1, 2**63, 10**30],
    str: [0, 1, True, None, [], {}, "x" * 10_000, "\u0000"],
    bool: [0, 1, "true", None, [], {}],
    type(None): [False, "", "null", [], {"unknown": 1}],  # 0 is a valid volume
    list: [0, "", True, None, {}, [None]],
    dict: [0, "", True, None, [], {"unknown": 1}],
}


def _leaves(value: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _leaves(v, (*path, i))
    return out


def _get(tree: Any, path: tuple) -> Any:
    for part in path:
        tree = tree[part]
    return tree


def _set(tree: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(tree))
    _get(copy, path[:-1])[path[-1]] = value
    return copy


def _resigned(payload: Any) -> bytes:
    try:
        sig = b64encode(KEY.sign(canonical_json(payload)))
    except CanonicalJsonError:
        sig = "AAAA"
    return json.dumps({"payload": payload, "sig": sig}, ensure_ascii=False).encode()


def _verify(raw: bytes, plan_topic: bool = False) -> CommandPayload:
    return verify(
        raw, keys=KEYS, device_id="loa-1", zones=set(), last_seq={}, now=NOW, plan_topic=plan_topic
    )


def _optional_null(path: tuple) -> bool:
    """Fields where null is the valid default (a mutation to null changes nothing)."""
    return bool(path) and path[-1] in ("volume", "media", "stream", "fallback_media")


@st.composite
def mutations(draw: st.DrawFn) -> tuple[bytes, bool, str]:
    original = draw(st.sampled_from([*VALID, PLAN]))
    is_plan = original is PLAN
    raw = sign(original, KEY)
    envelope = json.loads(raw)
    payload = envelope["payload"]
    how = draw(
        st.sampled_from(
            ["retype", "resign_drop", "resign_add", "unsigned", "twice", "topic", "sig"]
        )
    )
    if how == "topic":
        return raw, not is_plan, how
    if how == "sig":
        sig = envelope["sig"]
        i = draw(st.integers(0, len(sig) - 1))
        forged = (
            sig[:i] + draw(st.sampled_from([c for c in "AQgw-_" if c != sig[i]])) + sig[i + 1 :]
        )
        assume(forged.rstrip("A") != sig.rstrip("A"))
        return json.dumps({"payload": payload, "sig": forged}).encode(), is_plan, how
    path = draw(st.sampled_from(_leaves(payload)[1:]))
    old = _get(payload, path)
    if how == "retype":
        new = draw(st.sampled_from(OTHER_TYPE[type(old)]))
        assume(not (new is None and _optional_null(path)))
        # another one-line text is a valid title or reason
        assume(
            not (
                path[-1] in ("title", "reason")
                and isinstance(new, str)
                and len(new) <= 200
                and new.isprintable()
            )
        )
        assume(not (path[-1] == "fallback_urls" and new == []))
        return _resigned(_set(payload, path, new)), is_plan, how
    if how == "resign_drop":
        parent = _get(payload, path[:-1])
        assume(isinstance(parent, dict) and path[-1] != "type")
        defaults = {
            "v",
            "title",
            "priority",
            "volume",
            "reason",
            "fallback_urls",
            "fallback_media",
            "max_late_s",
            "entries",
            "media",
            "stream",
            "ended",
            "mime",
        }
        assume(path[-1] not in defaults)
        changed = json.loads(json.dumps(payload))
        del _get(changed, path[:-1])[path[-1]]
        return _resigned(changed), is_plan, how
    if how == "resign_add":
        parent_path = path[:-1]
        assume(isinstance(_get(payload, parent_path), dict))
        name = draw(st.sampled_from(["extra", "Type", "sig", "kid2", "admin"]))
        changed = json.loads(json.dumps(payload))
        _get(changed, parent_path)[name] = draw(st.sampled_from([1, "x", True, None]))
        return _resigned(changed), is_plan, how
    if how == "twice":
        # the same key again with the same or another value, the signature still valid for
        # the last one: readers disagree on which one counts
        text = raw.decode()
        key = str(path[-1])
        assume(isinstance(path[-1], str) and f'"{key}": ' in text)
        value = draw(st.sampled_from([json.dumps(old), '"x"', "1"]))
        at = text.index(f'"{key}": ')
        return (text[:at] + f'"{key}": {value}, ' + text[at:]).encode(), is_plan, how
    # unsigned: any change to the payload keeps the old signature
    new = draw(st.sampled_from([*OTHER_TYPE[type(old)], "changed", 12345]))
    changed = _set(payload, path, new)
    assume(canonical_json(changed) != canonical_json(payload))
    return json.dumps({"payload": changed, "sig": envelope["sig"]}).encode(), is_plan, how


def test_every_valid_envelope_is_accepted_on_its_own_kind_of_topic():
    for payload in VALID:
        assert _verify(sign(payload, KEY)) == payload
    assert _verify(sign(PLAN, KEY), plan_topic=True) == PLAN


@given(mutations())
@settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_mutation_of_a_valid_envelope_is_accepted(case):
    raw, plan_topic, how = case
    with pytest.raises(Rejected) as exc:
        _verify(raw, plan_topic)
    assert exc.value.reason in {
        "malformed",
        "bad_signature",
        "unknown_key",
        "unsigned",
        "wrong_topic",
    }, how


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seq", "1732253400000"),
        ("seq", True),
        ("body.level", "60"),
        ("body.level", True),
        ("body.level", 60.0),
        ("issued_at", 1732253400),
        ("not_after", 0),
    ],
)
def test_no_coercion_even_when_signed_with_the_real_key(field, value):
    """Numbers sent as strings, booleans as numbers, epoch numbers as times: all refused."""
    payload = json.loads(sign(VALID[3], KEY))["payload"]
    path = tuple(field.split("."))
    raw = (
        _resigned(_set(payload, path, value))
        if not isinstance(value, float)
        else json.dumps(
            {"payload": _set(payload, path, value), "sig": json.loads(sign(VALID[3], KEY))["sig"]}
        ).encode()
    )
    with pytest.raises(Rejected) as exc:
        _verify(raw)
    assert exc.value.reason in ("malformed", "bad_signature")


def test_a_repeated_payload_key_is_refused_though_the_signature_holds():
    raw = sign(VALID[2], KEY).decode()
    twice = raw.replace('{"payload": ', '{"payload": {"kid": "x"}, "payload": ', 1)
    with pytest.raises(Rejected) as exc:
        _verify(twice.encode())
    assert exc.value.reason == "malformed"
    assert "twice" in exc.value.detail


def test_a_play_on_a_plan_topic_and_a_plan_on_a_command_topic_are_reported_wrong_topic():
    for payload, plan_topic in ((VALID[0], True), (PLAN, False)):
        with pytest.raises(Rejected) as exc:
            _verify(sign(payload, KEY), plan_topic)
        assert exc.value.reason == "wrong_topic"
        assert exc.value.cmd_id == "c1"


@pytest.mark.parametrize(
    "start",
    [datetime(1970, 1, 1, tzinfo=timezone.utc), NOW - timedelta(days=2), NOW + timedelta(hours=2)],
)
def test_a_start_outside_the_validity_is_refused(start):
    """``start_at: 0`` once played at once as 1970."""
    play = PlayCommand(play_id="b1", broadcast_id="b1", start_at=start, media=MEDIA)
    with pytest.raises(Rejected) as exc:
        _verify(sign(_payload(play), KEY))
    assert exc.value.reason == "malformed"
    assert "outside" in exc.value.detail
    late = PlayCommand(
        play_id="b1", broadcast_id="b1", start_at=NOW - timedelta(hours=1), media=MEDIA
    )
    assert _verify(sign(_payload(late), KEY)).body == late  # a late send still joins in step


def test_text_a_person_typed_is_made_one_line_before_it_is_signed():
    from protocol.messages import one_line

    assert one_line("Bản tin\r\nsáng\t\x00 nay ") == "Bản tin sáng nay"
    assert len(one_line("x" * 500)) == 200
