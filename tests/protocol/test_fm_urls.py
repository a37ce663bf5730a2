"""The FM "URL" of a relay through the cluster's own tuner: ``fm:<kHz>`` in the band only."""

from __future__ import annotations

import msgspec
import pytest

from protocol.messages import StreamRef
from protocol.urls import fm_khz, fm_url, with_credentials


@pytest.mark.parametrize(
    ("url", "khz"),
    [
        ("fm:100000", 100_000),
        ("fm:98500", 98_500),
        ("fm:64000", 64_000),
        ("fm:108000", 108_000),
        ("fm:63999", None),  # below the band
        ("fm:108001", None),
        ("fm:1000000", None),  # seven digits
        ("fm:98.5", None),
        ("fm:", None),
        ("http://fm:100000", None),
        ("FM:100000", None),
    ],
)
def test_an_fm_url_names_a_frequency_in_the_band(url, khz):
    assert fm_khz(url) == khz


def test_made_and_carried_as_a_stream_url_without_credentials():
    assert fm_url(100_000) == "fm:100000"
    with pytest.raises(ValueError, match="FM band"):
        fm_url(120_000)
    assert with_credentials("fm:100000", "loa-1", "secret") == "fm:100000"
    ref = msgspec.json.decode(b'{"url": "fm:100000", "duration_s": 60}', type=StreamRef)
    assert ref.urls == ["fm:100000"]
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"url": "fm:abc", "duration_s": 60}', type=StreamRef)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"url": "file:///etc/passwd", "duration_s": 60}', type=StreamRef)
