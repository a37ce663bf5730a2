"""On-disk outbox and agent state survive restarts and half-written files."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from edge_agent.outbox import Outbox
from edge_agent.state import AgentState


def test_outbox_keeps_order_across_reopen(tmp_path):
    box = Outbox(tmp_path / "outbox")
    for i in range(5):
        box.put("t/event", f'{{"n": {i}}}'.encode())
    box.remove(box.pending()[0])
    reopened = Outbox(tmp_path / "outbox")
    expected = [f'{{"n": {i}}}'.encode() for i in range(1, 5)]
    assert [i.payload for i in reopened.pending()] == expected
    reopened.put("t/event", b'{"n": 5}')
    assert reopened.pending()[-1].payload == b'{"n": 5}'


def test_outbox_ignores_a_write_cut_short_and_drops_unreadable_files(tmp_path):
    box = Outbox(tmp_path / "outbox")
    box.put("t", b"{}")
    (tmp_path / "outbox" / ".000000000002.json.tmp").write_bytes(b'{"topic": "t", "pay')
    (tmp_path / "outbox" / "000000000003.json").write_bytes(b"\x00garbage")
    reopened = Outbox(tmp_path / "outbox")
    assert [i.topic for i in reopened.pending()] == ["t"]
    assert len(reopened) == 1


def test_outbox_is_bounded_dropping_the_oldest(tmp_path):
    box = Outbox(tmp_path / "outbox", max_items=3)
    for i in range(6):
        box.put("t", str(i).encode())
    assert [i.payload for i in box.pending()] == [b"3", b"4", b"5"]


def test_health_readings_are_shed_before_events(tmp_path):
    box = Outbox(tmp_path / "outbox", max_items=100, max_droppable=2)
    box.put("event", b"played-1")
    for i in range(5):
        box.put("telemetry", f"h{i}".encode(), droppable=True)
    box.put("event", b"played-2")
    assert [i.payload for i in box.pending()] == [b"played-1", b"h3", b"h4", b"played-2"]
    assert [i.payload for i in Outbox(tmp_path / "outbox").pending()][-1] == b"played-2"


def test_state_remembers_sequences_zones_and_plays(tmp_path):
    now = datetime(2026, 11, 22, tzinfo=timezone.utc)
    state = AgentState(tmp_path / "state.json", ["thon-dong"])
    assert state.accept("device:loa-1", 42, "p1", now, now)
    state.set_zones(["thon-tay"])
    again = AgentState(tmp_path / "state.json", ["ignored"])
    assert again.last_seq == {"device:loa-1": 42}
    assert again.zones == ["thon-tay"]
    assert not again.accept("zone:thon-tay", 43, "p1", now, now)  # same play by another path
    assert again.last_seq == {"device:loa-1": 42, "zone:thon-tay": 43}
    later = now + timedelta(days=4)
    assert again.accept("all", 44, "p2", later, later)  # p1 forgotten after 3 days
    assert "p1" not in again.plays


def test_corrupt_state_file_falls_back_to_defaults(tmp_path):
    (tmp_path / "state.json").write_bytes(b'{"last_seq": {"a"')
    state = AgentState(tmp_path / "state.json", ["z"])
    assert state.last_seq == {}
    assert state.zones == ["z"]
