"""The clock's offset from true time: SNTP packets, chrony and timesyncd output, and a real
SNTP exchange over UDP with a server whose clock is ahead."""

from __future__ import annotations

import time

import pytest

from edge_agent.timesync import (
    PACKET,
    ClockOffset,
    OffsetReader,
    from_ntp,
    parse_chrony_tracking,
    parse_timesyncd_status,
    placement_correction,
    query_sntp,
    sntp_offset,
    sntp_request,
    to_ntp,
)
from tests.support.sntp import SntpServer


def _reply(t1: float, t2: float, t3: float, flags: int = 0x24, stratum: int = 2) -> bytes:
    return PACKET.pack(
        flags, stratum, 6, -20, 0, 0, b"GPS\0", 0, to_ntp(t1), to_ntp(t2), to_ntp(t3)
    )


def test_ntp_timestamps_round_trip_to_the_microsecond():
    now = time.time()
    assert abs(from_ntp(to_ntp(now)) - now) < 1e-6


def test_the_offset_is_true_time_minus_our_clock_net_of_the_round_trip():
    # the server is 0.5 s ahead; 40 ms there and 40 ms back, 1 ms to answer
    t1 = 1_800_000_000.0
    reply = _reply(t1, t1 + 0.5 + 0.040, t1 + 0.5 + 0.041)
    assert sntp_offset(reply, t1, t1 + 0.081) == pytest.approx(0.5, abs=1e-6)
    request = sntp_request(t1)
    assert len(request) == 48
    assert request[0] == 0x23


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (lambda t1: _reply(t1, t1, t1, flags=0x23), "not a server reply"),
        (lambda t1: _reply(t1, t1, t1, stratum=0), "not synchronised"),  # kiss-of-death
        (lambda t1: _reply(t1, t1, t1, flags=0xE4), "not synchronised"),  # leap: alarm
        (lambda t1: _reply(t1 + 1, t1, t1), "does not answer"),  # someone else's answer
        (lambda t1: b"\x24" * 20, "short"),
    ],
)
def test_a_reply_that_is_no_answer_is_refused(reply, why):
    t1 = 1_800_000_000.0
    with pytest.raises(ValueError, match=why):
        sntp_offset(reply(t1), t1, t1 + 0.01)


def test_chrony_and_timesyncd_output_give_the_same_sign_as_sntp():
    slow = (
        "Reference ID    : C0A80001 (ntp)\nSystem time     : 0.012500000 seconds slow of "
        "NTP time\nLast offset     : +0.000001 seconds\n"
    )
    fast = slow.replace("slow of", "fast of")
    assert parse_chrony_tracking(slow) == pytest.approx(0.0125)  # behind: θ > 0
    assert parse_chrony_tracking(fast) == pytest.approx(-0.0125)
    status = "       Server: 10.0.0.1 (ntp)\n       Offset: -3.217ms\n        Delay: 40ms\n"
    assert parse_timesyncd_status(status) == pytest.approx(-0.003217)
    assert parse_timesyncd_status("Offset: +250us") == pytest.approx(0.00025)
    with pytest.raises(ValueError, match="no Offset line"):
        parse_timesyncd_status("Server: none")


def test_a_real_sntp_exchange_measures_a_clock_that_is_behind():
    server = SntpServer(ahead_s=0.25).start()
    try:
        assert query_sntp("127.0.0.1", server.port) == pytest.approx(0.25, abs=0.02)
        reader = OffsetReader("127.0.0.1", server.port, every_s=600)
        first = reader.refresh()
        assert first is not None
        assert first.source in ("sntp", "chrony", "timesyncd")
        if first.source == "sntp":
            assert first.offset_ms == pytest.approx(250, abs=20)
        reader.refresh()  # within every_s: the last reading, no new query
        assert server.requests == (8 if first.source == "sntp" else 4)  # four exchanges each
    finally:
        server.stop()


def test_the_exchange_with_the_shortest_round_trip_gives_the_offset():
    """Replies held 200 ms on their way back would read the clock 100 ms less behind; the
    one quick exchange among them is the one believed (NTP's clock filter)."""
    server = SntpServer(ahead_s=0.25, reply_delays=(0.2, 0.2, 0.0, 0.2)).start()
    try:
        assert query_sntp("127.0.0.1", server.port) == pytest.approx(0.25, abs=0.02)
        assert server.requests == 4
    finally:
        server.stop()


def test_no_source_answering_gives_no_offset_rather_than_a_guess():
    reader = OffsetReader("127.0.0.1", 9, every_s=600)  # discard port: nobody answers
    reading = reader.refresh()
    assert reading is None or reading.source in ("chrony", "timesyncd")


def test_only_an_undisciplined_clock_has_its_offset_applied_to_a_start():
    # chrony and timesyncd steer the clock already: applying their offset would count it twice
    assert placement_correction(ClockOffset(12.0, "chrony")) == (0.0, "system")
    assert placement_correction(ClockOffset(-3.0, "timesyncd")) == (0.0, "system")
    assert placement_correction(ClockOffset(250.0, "sntp")) == (0.25, "offset")
    assert placement_correction(None) == (0.0, "free")
