"""Live audio on the station's timeline: Ogg pages to packets with their granules, packets to
sample numbers, and the buffer the player reads by where it will be heard."""

from __future__ import annotations

import struct
import subprocess

import pytest

from edge_agent.live_timeline import RATE, TimelineBuffer, origin_ns, sample_number
from edge_agent.ogg import OggReader, opus_head, opus_samples, opus_tags
from edge_agent.opus import OpusDecoder, gain_q8


def page(granule: int, packets: list[bytes], flags: int = 0, serial: int = 7, tail: bytes = b""):
    """One Ogg page (CRC left 0: the reader does not need it over TCP); ``tail``: the start
    of a packet that goes on in the next page (a multiple of 255 bytes)."""
    lacing, body = bytearray(), bytearray()
    for p in packets:
        lacing += bytes([255] * (len(p) // 255) + [len(p) % 255])
        body += p
    lacing += bytes([255] * (len(tail) // 255))
    body += tail
    head = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, serial, 0, 0, len(lacing))
    return head + bytes(lacing) + bytes(body)


def celt_20ms(tag: int) -> bytes:
    return bytes([(31 << 3) | 0, tag]) + bytes(10)  # config 31: CELT 20 ms, one frame


def test_a_page_s_granule_is_its_last_packet_s_end_and_earlier_packets_count_back():
    reader = OggReader()
    data = page(5000, [celt_20ms(1), celt_20ms(2), celt_20ms(3)])
    got = list(reader.feed(data[:10])) + list(reader.feed(data[10:]))
    assert [p.end_granule for p in got] == [5000 - 1920, 5000 - 960, 5000]
    assert [p.data[1] for p in got] == [1, 2, 3]


def test_a_packet_cut_at_the_join_is_dropped_and_one_across_pages_is_whole():
    reader = OggReader()
    long = bytes([(31 << 3) | 0]) + bytes(509)  # 510 bytes: 255 + 255 + 0 lacing
    # we joined mid-packet: a continued page whose first bytes belong to a packet we lack
    joined = page(2000, [bytes(300), celt_20ms(9)], flags=0x01)
    assert [p.data[1] for p in reader.feed(joined)] == [9]
    # a packet that spans two pages comes out once, whole, with the second page's granule
    first_half = page(-1, [], tail=long[:255])
    second_half = page(2960, [long[255:]], flags=0x01)
    assert list(reader.feed(first_half)) == []
    [p] = list(reader.feed(second_half))
    assert p.data == long
    assert p.end_granule == 2960


def test_opus_packet_lengths_come_from_the_toc_byte():
    assert opus_samples(bytes([(31 << 3) | 0])) == 960  # CELT 20 ms
    assert opus_samples(bytes([(1 << 3) | 1])) == 1920  # SILK 20 ms, two frames
    assert opus_samples(bytes([(3 << 3) | 3, 3])) == 3 * 2880  # SILK 60 ms, three frames
    assert opus_samples(bytes([(16 << 3) | 0])) == 120  # CELT 2.5 ms
    assert opus_samples(b"") == 0


def test_the_origin_comes_from_the_comment_header_and_nonsense_is_ignored():
    assert origin_ns({"LOALANG_ORIGIN": "1765000000123456789"}) == 1765000000123456789
    assert origin_ns({"LOALANG_ORIGIN": "-5"}) is None
    assert origin_ns({"LOALANG_ORIGIN": "9" * 40}) is None
    assert origin_ns({}) is None
    assert sample_number(2 * 1_000_000_000) == 2 * RATE


def pcm(first: int, count: int) -> bytes:
    """Samples whose value is their own number (mod 30000), to see what came out where."""
    return struct.pack(f"<{count}h", *((first + i) % 30000 for i in range(count)))


def test_the_buffer_gives_audio_by_sample_number_with_silence_where_none_came():
    buf = TimelineBuffer()
    buf.cursor = 1000
    buf.put(1100, pcm(1100, 100))
    out = buf.take(300)
    values = struct.unpack("<300h", out)
    assert values[:100] == (0,) * 100  # before the audio: silence
    assert values[100:200] == tuple(range(1100, 1200))
    assert values[200:] == (0,) * 100
    assert (buf.found, buf.missing, buf.cursor) == (100, 200, 1300)


def test_audio_after_its_time_is_dropped_and_counted_late():
    buf = TimelineBuffer()
    buf.cursor = 5000
    buf.put(4900, pcm(4900, 200))  # half of it was due already
    assert buf.late == 100
    assert struct.unpack("<100h", buf.take(100)) == tuple(range(5000, 5100))


def test_a_restarted_chain_overlapping_what_is_held_replaces_it():
    buf = TimelineBuffer()
    buf.cursor = 0
    buf.put(0, pcm(0, 1000))
    buf.put(500, bytes(1000))  # the newer chain says silence from 500 on
    out = struct.unpack("<1000h", buf.take(1000))
    assert out[:500] == tuple(range(500))
    assert out[500:] == (0,) * 500


def test_the_buffer_holds_no_more_than_its_limit():
    buf = TimelineBuffer(max_samples=1000)
    buf.cursor = 0
    for first in range(0, 5000, 500):
        buf.put(first, pcm(first, 500))
    assert buf.end == 5000
    buf.take(4000)
    assert struct.unpack("<500h", buf.take(500)) == tuple(range(4000, 4500))


@pytest.fixture(scope="module")
def opus_file(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("opus") / "tone.ogg"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=f=440:d=1", "-ac", "1"]
        + ["-ar", "48000", "-c:a", "libopus", "-b:a", "32k", "-frame_duration", "20"]
        + ["-metadata", "LOALANG_ORIGIN=1765000000000000000", "-f", "ogg", str(path)],
        check=True,
    )
    return path.read_bytes()


def test_an_encoded_stream_decodes_with_its_origin_pre_skip_and_a_sample_count_per_packet(
    opus_file: bytes,
):
    packets = list(OggReader().feed(opus_file))
    head, tags = opus_head(packets[0].data), opus_tags(packets[1].data)
    assert head is not None
    assert head.pre_skip > 0
    assert tags is not None
    assert origin_ns(tags) == 1765000000000000000
    decoder = OpusDecoder()
    quiet = OpusDecoder(volume=25)
    ends = []
    for p in packets[2:]:
        loud, soft = decoder.decode(p.data), quiet.decode(p.data)
        assert len(loud) // 2 == opus_samples(p.data) == 960
        ends.append(p.end_granule)
    assert ends[:3] == [960, 1920, 2880]  # what ffmpeg writes: end of each 20 ms packet
    peak = max(abs(x) for x in struct.unpack(f"<{len(loud) // 2}h", loud))
    soft_peak = max(abs(x) for x in struct.unpack(f"<{len(soft) // 2}h", soft))
    assert 0.2 < soft_peak / peak < 0.3  # 25 % as libopus's own gain
    assert gain_q8(100) == 0
    assert gain_q8(50) == round(-6.0206 * 256)
