"""Message bodies: every message round-trips; malformed bodies are CodecErrors, never crashes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge import codec
from firmware_bridge.framing import Packet

u8, u16, i16, u32 = (
    st.integers(0, 255),
    st.integers(0, 65535),
    st.integers(-32768, 32767),
    st.integers(0, 2**32 - 1),
)
messages = st.one_of(
    st.just(codec.Ping()),
    st.just(codec.GetStatus()),
    st.just(codec.GetInfo()),
    st.builds(codec.SetAmplifier, channel=u8, on=st.integers(0, 1)),
    st.builds(codec.SetInput, source=st.sampled_from(list(codec.InputSource))),
    st.builds(codec.SetVolume, level=st.integers(0, 100)),
    st.builds(codec.TuneFm, freq_10khz=st.integers(6400, 10800)),
    st.builds(codec.Pong, uptime_s=u32),
    st.builds(
        codec.Status,
        mains=st.integers(0, 1),
        battery_mv=u16,
        temperature_dc=i16,
        door_open=st.integers(0, 1),
        amplifiers=u8,
        source=st.integers(0, 2),
        volume=st.integers(0, 100),
        line_ma=st.lists(u16, max_size=8).map(tuple),
    ),
    st.builds(codec.Ok, request_type=st.sampled_from(sorted(codec.SET_REQUESTS))),
    st.builds(codec.Info, protocol=u8, channels=u8, firmware=st.text(max_size=30)),
    st.builds(codec.Error, code=u8, request_type=u8),
    st.builds(codec.MainsChanged, present=st.integers(0, 1), battery_mv=u16),
    st.builds(codec.DoorChanged, open=st.integers(0, 1)),
    st.builds(codec.OverTemperature, temperature_dc=i16),
    st.builds(codec.LineFault, channel=u8, current_ma=u16, fault=st.integers(1, 2)),
    st.builds(codec.Booted, reason=st.integers(0, 3)),
)


@given(messages, u8)
def test_every_message_round_trips(message, seq):
    packet = codec.to_packet(message, seq)
    assert packet.seq == seq
    assert codec.from_packet(packet) == message


@given(u8, st.binary(max_size=40))
def test_any_packet_decodes_or_is_a_codec_error(type_, body):
    try:
        codec.from_packet(Packet(type=type_, seq=1, body=body))
    except codec.CodecError:
        pass


def test_out_of_range_requests_are_refused_before_they_reach_the_wire():
    for bad, why in (
        (lambda: codec.SetVolume(101), "volume is 0–100"),
        (lambda: codec.TuneFm(12000), "FM frequency outside"),
        (lambda: codec.SetInput(9), "not a valid InputSource"),
        (lambda: codec.SetAmplifier(0, 2), "on is 0 or 1"),
    ):
        with pytest.raises(ValueError, match=why):
            bad()


def test_status_with_a_wrong_channel_count_is_refused():
    good = codec.Status(1, 12600, 315, 0, 0b11, 0, 80, (120, 0))
    body = codec.to_packet(good, 1).body
    with pytest.raises(codec.CodecError, match="channels"):
        codec.from_packet(Packet(type=0x82, seq=1, body=body[:-1]))
    assert codec.from_packet(Packet(type=0x83, seq=1, body=b"")) == codec.Ok(0x03)
