"""The wire models across versions: what an agent or controller one version older reads."""

from __future__ import annotations

import pytest


def test_fields_added_later_are_left_out_at_their_default_so_an_older_reader_still_reads():
    """A controller one version ahead sends a plain cancel and a plain relay exactly as the
    older agent's own models wrote them (it refuses unknown fields)."""
    import msgspec

    from protocol.messages import CancelCommand, StreamRef

    class OldCancel(msgspec.Struct, forbid_unknown_fields=True, tag_field="type", tag="cancel"):
        play_id: str

    class OldStream(msgspec.Struct, forbid_unknown_fields=True):
        url: str
        duration_s: int
        fallback_urls: list[str] = []

    assert (
        msgspec.json.decode(
            msgspec.json.encode(CancelCommand(play_id="b-1")), type=OldCancel
        ).play_id
        == "b-1"
    )
    relay = StreamRef(url="http://vov.vn/vov1", duration_s=60, fallback_urls=["http://b/c"])
    assert msgspec.json.decode(msgspec.json.encode(relay), type=OldStream).fallback_urls == [
        "http://b/c"
    ]
    with pytest.raises(msgspec.ValidationError):  # what a newer feature needs is refused
        msgspec.json.decode(
            msgspec.json.encode(CancelCommand(play_id="b-1", ended=True)), type=OldCancel
        )
