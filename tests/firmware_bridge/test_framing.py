"""Serial framing: round trips, and recovery from garbage, corruption and partial frames."""

from __future__ import annotations

import pytest
from cobs import cobs
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.framing import (
    MAX_PACKET,
    FrameDecoder,
    FrameError,
    Packet,
    decode_frame,
    encode,
)

packets = st.builds(
    Packet,
    type=st.integers(0, 255),
    seq=st.integers(0, 255),
    body=st.binary(max_size=MAX_PACKET - 5),
)


@given(st.lists(packets, max_size=8), st.data())
@settings(max_examples=200)
def test_packets_survive_any_chunking(items, data):
    stream = b"".join(encode(p) for p in items)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder = FrameDecoder()
    out = []
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        out += decoder.feed(stream[a:b])
    assert out == items


@given(st.binary(max_size=600), packets)
@settings(max_examples=300)
def test_garbage_before_a_frame_never_hides_the_next_good_frame(garbage, packet):
    decoder = FrameDecoder()
    results = decoder.feed(garbage + b"\x00" + encode(packet))
    assert results[-1] == packet
    assert all(isinstance(r, (Packet, FrameError)) for r in results)


@given(packets, st.data())
@settings(max_examples=300)
def test_any_corrupted_byte_fails_the_crc(packet, data):
    raw = bytearray(cobs.decode(encode(packet)[:-1]))
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= data.draw(st.integers(1, 255))  # CRC-16 catches every burst up to 16 bits
    with pytest.raises(FrameError) as caught:
        decode_frame(cobs.encode(bytes(raw)))
    assert caught.value.reason == "crc"


def test_endless_noise_without_delimiter_is_dropped_and_the_line_recovers():
    decoder = FrameDecoder()
    errors = decoder.feed(b"\x55" * 5000)
    assert [e.reason for e in errors] == ["overflow"]
    good = Packet(type=0x01, seq=7, body=b"hi")
    assert decoder.feed(b"\x55\x00" + encode(good)) == [good]


def test_errors_name_their_reason():
    assert decode_frame(encode(Packet(1, 2, b"x"))[:-1]) == Packet(1, 2, b"x")
    for frame, reason in ((b"\x01", "short"), (b"\x02\x00\x01", "cobs")):
        with pytest.raises(FrameError) as caught:
            decode_frame(frame)
        assert caught.value.reason == reason, frame


def test_crc_is_ccitt_false_as_documented():
    from firmware_bridge.framing import crc16

    assert crc16(b"123456789") == 0x29B1
