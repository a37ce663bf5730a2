"""The ingest batch applier on an in-memory SQLite: reports in, rows out (no broker needed)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from controller.db.models import (
    Alarm,
    Broadcast,
    Command,
    Delivery,
    Device,
    DeviceEvent,
    DeviceTelemetry,
    DeviceZone,
    Media,
    Zone,
)
from controller.db.session import make_sessionmaker, migrate
from controller.fleet.ingest import Ingest
from protocol import topics
from protocol.messages import utcnow

NOW = utcnow()


@pytest.fixture
def sessions() -> Iterator[sessionmaker[Session]]:
    # the record's times are this test's "now": reports are judged against the command's
    # window, and the module may have been imported minutes earlier in a long suite
    global NOW
    NOW = utcnow()
    engine = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    migrate(engine)
    factory = make_sessionmaker(engine)
    with factory.begin() as s:
        s.add(Media(sha256="a" * 64, original_size=1, size=1, duration_ms=3000))
        s.add(Zone(id="z", name="Thôn Z"))
        for device_id in ("loa-1", "loa-2"):
            s.add(Device(id=device_id, name=device_id, token_hash="x", capabilities=[]))
            s.add(DeviceZone(device_id=device_id, zone_id="z"))
        s.add(Device(id="cu", name="old", token_hash="x", capabilities=[], retired=True))
        s.add(
            Broadcast(
                id="b-1",
                media_sha256="a" * 64,
                targets=["zone:z"],
                start_at=NOW,
                send_at=NOW,
                not_after=NOW + timedelta(minutes=2),
                state="sent",
            )
        )
        for device_id in ("loa-1", "loa-2"):
            s.add(Delivery(broadcast_id="b-1", device_id=device_id, state="sent", updated_at=NOW))
        s.add(
            Command(
                cmd_id="c-1",
                type="play",
                target="zone:z",
                seq=1,
                broadcast_id="b-1",
                issued_at=NOW,
                not_after=NOW + timedelta(minutes=2),
            )
        )
    yield factory
    engine.dispose()


def _report(kind: str, device_id: str, **body) -> tuple[str, bytes, float]:  # type: ignore[no-untyped-def]
    body.setdefault("device_id", device_id)
    if kind in ("event", "ack", "telemetry"):
        body.setdefault("event_id", uuid.uuid4().hex)
        body.setdefault("ts", utcnow().isoformat())
    return topics.device_topic(device_id, kind), json.dumps(body).encode(), time.monotonic()


def _play_event(kind: str, device_id: str = "loa-1", **extra) -> tuple[str, bytes, float]:  # type: ignore[no-untyped-def]
    fields = dict(type=kind, play_id="b-1")
    if kind != "media.ready":
        fields["broadcast_id"] = "b-1"
    if kind in ("playback.started", "playback.finished"):
        fields.update(scheduled_start=NOW.isoformat(), actual_start=NOW.isoformat())
    if kind == "playback.finished":
        fields.update(actual_end=(NOW + timedelta(seconds=3)).isoformat(), played_ms=3000)
    fields.update(extra)
    return _report("event", device_id, **fields)


def _delivery(sessions: sessionmaker[Session], device_id: str) -> Delivery:
    with sessions() as s:
        return s.scalars(select(Delivery).where(Delivery.device_id == device_id)).one()


def test_a_play_moves_forward_and_a_late_ack_does_not_undo_it(sessions):
    ingest = Ingest(sessions)
    ack = _report("ack", "loa-1", cmd_id="c-1", accepted=True, play_id="b-1")
    ingest.apply_batch(
        [_play_event("media.ready", sha256="a" * 64), _play_event("playback.started")]
    )
    assert _delivery(sessions, "loa-1").state == "playing"
    ingest.apply_batch([_play_event("playback.finished"), ack])
    delivery = _delivery(sessions, "loa-1")
    assert delivery.state == "played"
    assert delivery.played_ms == 3000
    assert delivery.acked_at is not None
    assert delivery.media_ready_at is not None
    assert ingest.rejected == 0
    assert _delivery(sessions, "loa-2").state == "sent"  # another device's row is untouched


def test_the_same_event_twice_is_stored_once(sessions):
    ingest = Ingest(sessions)
    event = _play_event("playback.finished")
    ingest.apply_batch([event])
    ingest.apply_batch([event, event])
    with sessions() as s:
        assert len(s.scalars(select(DeviceEvent)).all()) == 1
    assert ingest.processed == 3
    assert ingest.rejected == 0


@pytest.mark.parametrize(
    ("report", "state", "reason"),
    [
        (lambda: _play_event("playback.failed", reason="too_late"), "missed", "too_late"),
        (
            lambda: _report("event", "loa-1", type="security", reason="expired", cmd_id="c-1"),
            "missed",
            "command expired before the device received it (device was offline)",
        ),
        (
            lambda: _report("ack", "loa-1", cmd_id="c-1", accepted=False, reason="wrong_target"),
            "failed",
            "refused: wrong_target",
        ),
        (
            lambda: _play_event(
                "playback.finished", interrupted=True, interrupted_by="emergency:b-9"
            ),
            "interrupted",
            "interrupted by emergency:b-9",
        ),
    ],
)
def test_refusals_and_failures_end_a_delivery_with_the_reason(sessions, report, state, reason):
    Ingest(sessions).apply_batch([report()])
    delivery = _delivery(sessions, "loa-1")
    assert (delivery.state, delivery.reason) == (state, reason)


def test_a_report_that_speaks_for_another_device_is_dropped(sessions):
    ingest = Ingest(sessions)
    topic, payload, received = _play_event("playback.finished", device_id="loa-2")
    ingest.apply_batch([(topics.device_topic("loa-1", "event"), payload, received)])
    assert _delivery(sessions, "loa-2").state == "sent"
    assert _delivery(sessions, "loa-1").state == "sent"
    assert ingest.rejected == 1
    assert ingest.processed == 0


def test_reports_of_unknown_and_retired_devices_are_not_applied(sessions):
    ingest = Ingest(sessions)
    ingest.apply_batch(
        [_report("status", "ghost", state="online"), _report("status", "cu", state="online")]
    )
    with sessions() as s:
        assert s.get(Device, "cu").status == "unknown"
        assert s.scalars(select(DeviceEvent)).all() == []


def test_status_sets_the_device_state_but_a_last_will_is_not_a_sign_of_life(sessions):
    ingest = Ingest(sessions)
    ingest.apply_batch(
        [_report("status", "loa-1", state="online", version="1.2", capabilities=["play"])]
    )
    with sessions() as s:
        device = s.get(Device, "loa-1")
        seen = device.last_seen_at
        assert (device.status, device.version, device.capabilities) == ("online", "1.2", ["play"])
    ingest.apply_batch([_report("status", "loa-1", state="offline")])
    with sessions() as s:
        device = s.get(Device, "loa-1")
        assert device.status == "offline"
        assert device.last_seen_at == seen


def test_an_alarm_opens_counts_its_repeats_and_closes(sessions):
    ingest = Ingest(sessions)
    raise_ = dict(type="alarm", code="speaker_line", channel=1, active=True, value=0.0)
    ingest.apply_batch([_report("event", "loa-1", **raise_)])
    ingest.apply_batch([_report("event", "loa-1", **raise_)])
    with sessions() as s:
        [alarm] = s.scalars(select(Alarm)).all()
        assert (alarm.key, alarm.occurrences, alarm.cleared_at) == ("speaker_line:1", 2, None)
    ingest.apply_batch([_report("event", "loa-1", **{**raise_, "active": False})])
    with sessions() as s:
        [alarm] = s.scalars(select(Alarm)).all()
        assert alarm.cleared_at is not None


def test_health_updates_the_device_and_keeps_one_row_per_report(sessions):
    ingest = Ingest(sessions)
    health = _report(
        "telemetry",
        "loa-1",
        version="1.0",
        uptime_s=5,
        disk_free_mb=900,
        hardware={"backend": "mcu", "connected": True, "battery_v": 12.5},
    )
    ingest.apply_batch([health, health])
    with sessions() as s:
        assert s.get(Device, "loa-1").last_health["disk_free_mb"] == 900
        [row] = s.scalars(select(DeviceTelemetry)).all()
        assert (row.disk_free_mb, row.battery_v) == (900, 12.5)


def test_what_a_batch_touched_is_told_to_the_live_pages(sessions):
    touched: list[set[str]] = []
    ingest = Ingest(sessions, on_applied=touched.append)
    ingest.apply_batch([_report("status", "loa-1", state="online")])
    ingest.apply_batch([_play_event("playback.started")])
    ingest.apply_batch([_report("telemetry", "loa-1", version="1", uptime_s=1)])
    assert touched == [{"fleet"}, {"progress"}]


def test_a_device_row_is_written_once_per_batch_and_last_seen_at_most_every_10_s(sessions):
    """A fleet's reports do not each rewrite the device row (issue 16: 37 % of ingest)."""
    ingest = Ingest(sessions)
    ingest.apply_batch(
        [_report("telemetry", "loa-1", version="1", uptime_s=k, disk_free_mb=k) for k in range(5)]
        + [_play_event("media.ready", sha256="a" * 64)]
    )
    with sessions() as s:
        device = s.get(Device, "loa-1")
        first_seen = device.last_seen_at
        assert device.last_health["disk_free_mb"] == 4  # the newest of the batch
        assert len(s.scalars(select(DeviceTelemetry)).all()) == 5
    ingest.apply_batch([_report("telemetry", "loa-1", version="1", uptime_s=9, disk_free_mb=9)])
    with sessions() as s:
        device = s.get(Device, "loa-1")
        assert device.last_seen_at == first_seen  # seen a moment ago: not rewritten
        assert device.last_health["disk_free_mb"] == 9
    with sessions.begin() as s:
        s.get(Device, "loa-1").last_seen_at = first_seen - timedelta(seconds=11)
    ingest.apply_batch([_play_event("playback.started")])
    with sessions() as s:
        assert s.get(Device, "loa-1").last_seen_at > first_seen


def test_on_postgresql_a_process_of_its_own_applies_reports_and_one_that_dies_is_replaced():
    """The ingest process (``process_url``): rows stored, receipts for them; killed with -9,
    the next batch is stored by a new process (one lost mid-batch gets no receipts: its
    agents send it again)."""
    import os
    import signal

    from controller.db.session import make_engine
    from tests.support import postgres

    if not postgres.available():
        pytest.skip("PostgreSQL not reachable")
    with postgres.temp_database() as url:
        engine = make_engine(url)
        migrate(engine)
        factory = make_sessionmaker(engine)
        with factory.begin() as s:
            s.add(Device(id="loa-1", name="loa-1", token_hash="x", capabilities=[]))
        receipts: list[dict[str, list[str]]] = []
        ingest = Ingest(factory, on_stored=receipts.append, process_url=url)
        ingest.start()
        try:

            def report(event_id: str) -> tuple[str, bytes, float]:
                return (
                    topics.device_topic("loa-1", "event"),
                    json.dumps(
                        {
                            "event_id": event_id,
                            "device_id": "loa-1",
                            "ts": NOW.isoformat(),
                            "type": "security",
                            "reason": "bad_signature",
                            "detail": "",
                        }
                    ).encode(),
                    time.monotonic(),
                )

            ingest.apply_batch([report("e-1"), report("e-2")])
            assert receipts == [{"loa-1": ["e-1", "e-2"]}]
            worker = ingest._applier._proc  # type: ignore[union-attr]
            assert worker.pid != os.getpid()
            os.kill(worker.pid, signal.SIGKILL)
            worker.join(5)
            ingest.apply_batch([report("e-2"), report("e-3"), report("e-4")])
            assert receipts[1:] == [{"loa-1": ["e-2", "e-3", "e-4"]}]  # e-2: already stored
            assert ingest._applier._proc.pid != worker.pid  # type: ignore[union-attr]
            with factory() as s:
                assert sorted(s.scalars(select(DeviceEvent.event_id))) == [
                    "e-1",
                    "e-2",
                    "e-3",
                    "e-4",
                ]
        finally:
            ingest.stop()
            engine.dispose()


# --- reports checked against the record -----------------------------------------------------


def _security(sessions: sessionmaker[Session], device_id: str) -> list[DeviceEvent]:
    with sessions() as s:
        return list(
            s.scalars(
                select(DeviceEvent).where(
                    DeviceEvent.device_id == device_id, DeviceEvent.type == "security"
                )
            )
        )


def _only_to_loa_1(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        s.add(
            Broadcast(
                id="b-2",
                media_sha256="a" * 64,
                targets=["device:loa-1"],
                start_at=NOW + timedelta(minutes=3),
                send_at=NOW,
                not_after=NOW + timedelta(minutes=5),
                state="sent",
            )
        )
        s.add(Delivery(broadcast_id="b-2", device_id="loa-1", state="sent", updated_at=NOW))


def test_a_play_reported_before_its_start_is_refused_as_a_security_event(sessions):
    """loa-dong-1 once marked a bulletin due at 01:44:05 as played, started 01:40:43."""
    _only_to_loa_1(sessions)
    early = NOW + timedelta(minutes=3) - timedelta(seconds=202)
    receipts: list[dict[str, list[str]]] = []
    ingest = Ingest(sessions, on_stored=receipts.append)
    forged = _play_event(
        "playback.finished",
        play_id="b-2",
        broadcast_id="b-2",
        actual_start=early.isoformat(),
        actual_end=(early + timedelta(seconds=7)).isoformat(),
        played_ms=7000,
    )
    ingest.apply_batch([forged])
    with sessions() as s:
        delivery = s.scalars(select(Delivery).where(Delivery.broadcast_id == "b-2")).one()
        assert delivery.state == "sent"
        assert delivery.played_ms is None
        assert (
            s.scalars(select(DeviceEvent).where(DeviceEvent.type == "playback.finished")).all()
            == []
        )
        [alarm] = s.scalars(select(Alarm)).all()
        assert (alarm.device_id, alarm.code, alarm.acknowledged_at) == ("loa-1", "security", None)
    [event] = _security(sessions, "loa-1")
    assert event.payload["reason"] == "report_refused"
    assert event.payload["detail"] == "before_start"
    assert event.payload["report"]["play_id"] == "b-2"
    event_id = json.loads(forged[1])["event_id"]
    assert receipts == [{"loa-1": [event_id]}]  # receipted: refused for good, not resent


def test_a_neighbour_reporting_a_play_sent_only_to_another_device_is_refused(sessions):
    _only_to_loa_1(sessions)
    ingest = Ingest(sessions)
    at = NOW + timedelta(minutes=3)
    ingest.apply_batch(
        [
            _play_event(
                "playback.finished",
                device_id="loa-2",
                play_id="b-2",
                broadcast_id="b-2",
                actual_start=at.isoformat(),
                actual_end=(at + timedelta(seconds=3)).isoformat(),
            )
        ]
    )
    assert [e.payload["detail"] for e in _security(sessions, "loa-2")] == ["not_sent"]
    with sessions() as s:
        assert (
            s.scalars(select(DeviceEvent).where(DeviceEvent.type == "playback.finished")).all()
            == []
        )
    # an ack for a command addressed to loa-1 alone, from loa-2: refused too
    with sessions.begin() as s:
        s.add(
            Command(
                cmd_id="c-2",
                type="play",
                target="device:loa-1",
                seq=2,
                broadcast_id="b-2",
                issued_at=NOW,
                not_after=NOW + timedelta(minutes=5),
            )
        )
    ingest.apply_batch([_report("ack", "loa-2", cmd_id="c-2", accepted=True, play_id="b-2")])
    assert [e.payload["detail"] for e in _security(sessions, "loa-2")] == ["not_sent"] * 2
    with sessions() as s:  # one alarm, counted up
        [alarm] = s.scalars(select(Alarm)).all()
        assert (alarm.device_id, alarm.occurrences) == ("loa-2", 2)


@pytest.mark.parametrize(
    ("extra", "refusal"),
    [
        (lambda: dict(actual_end=(NOW + timedelta(minutes=4)).isoformat()), "ends_too_late"),
        (lambda: dict(played_ms=60_000), "played_too_long"),
        (
            lambda: dict(
                actual_start=(NOW + timedelta(minutes=3)).isoformat(),
                actual_end=(NOW + timedelta(minutes=3, seconds=3)).isoformat(),
            ),
            "after_window",
        ),
    ],
)
def test_times_outside_the_plays_window_are_refused(sessions, extra, refusal):
    ingest = Ingest(sessions)
    ingest.apply_batch([_play_event("playback.finished", **extra())])  # times from this NOW
    assert [e.payload["detail"] for e in _security(sessions, "loa-1")] == [refusal]
    assert _delivery(sessions, "loa-1").state == "sent"


def test_a_device_whose_clock_is_off_is_judged_on_true_time(sessions):
    """A clock 60 s behind reports a start 60 s before the true one; its offset (true minus
    device) puts it back in the window."""
    ingest = Ingest(sessions)
    behind = NOW - timedelta(seconds=60)
    ingest.apply_batch(
        [_report("telemetry", "loa-1", version="1", uptime_s=1, clock_offset_ms=60_000.0)]
    )
    ingest.apply_batch(
        [
            _play_event(
                "playback.finished",
                actual_start=behind.isoformat(),
                actual_end=(behind + timedelta(seconds=3)).isoformat(),
            )
        ]
    )
    assert _delivery(sessions, "loa-1").state == "played"
    assert _security(sessions, "loa-1") == []


def test_a_schedules_play_from_the_plans_is_believed_for_the_devices_it_reaches(sessions):
    """A play never fired centrally (a relay; the controller down at its time) is checked
    against the schedule's record: its targets and its window."""
    from controller.db.models import ScheduledPlay

    with sessions.begin() as s:
        s.add(
            ScheduledPlay(
                play_id="s-tin-sang-20261206T0530",
                start_at=NOW,
                latest_start=NOW + timedelta(minutes=2),
                ends_by=NOW + timedelta(seconds=3),
                duration_ms=3000,
                targets=["device:loa-1"],
            )
        )
    ingest = Ingest(sessions)
    play = dict(play_id="s-tin-sang-20261206T0530", broadcast_id="s-tin-sang-20261206T0530")
    ingest.apply_batch(
        [
            _play_event("playback.finished", **play),
            _play_event("playback.finished", device_id="loa-2", **play),
        ]
    )
    with sessions() as s:
        assert [
            e.device_id
            for e in s.scalars(select(DeviceEvent).where(DeviceEvent.type == "playback.finished"))
        ] == ["loa-1"]
    assert [e.payload["detail"] for e in _security(sessions, "loa-2")] == ["not_sent"]


def test_an_ack_before_its_command_was_issued_is_refused(sessions):
    ingest = Ingest(sessions)
    ingest.apply_batch(
        [
            _report(
                "ack",
                "loa-1",
                cmd_id="c-1",
                accepted=True,
                play_id="b-1",
                ts=(NOW - timedelta(minutes=5)).isoformat(),
            )
        ]
    )
    assert [e.payload["detail"] for e in _security(sessions, "loa-1")] == ["ack_out_of_window"]
    assert _delivery(sessions, "loa-1").acked_at is None


@pytest.mark.allow_errors  # the refused writes are logged with their traceback
def test_a_database_refusing_writes_counts_failures_gives_no_receipt_and_loses_nothing(sessions):
    """A full disk: the reports are not stored, not receipted (the agent keeps them and sends
    them again), and counted as failed with the error, which is not a refusal of their content."""
    receipted: list[dict[str, list[str]]] = []
    ingest = Ingest(sessions, on_stored=receipted.append)
    started = _play_event("playback.started")
    with sessions() as s:
        s.connection().exec_driver_sql("PRAGMA query_only = ON")
    ingest.apply_batch([started])
    assert ingest.failed == 1
    assert "readonly" in (ingest.last_error or "")
    assert receipted == []
    assert _delivery(sessions, "loa-1").state == "sent"
    with sessions() as s:
        s.connection().exec_driver_sql("PRAGMA query_only = OFF")
    ingest.apply_batch([started])  # sent again by the agent, once the disk has room
    assert _delivery(sessions, "loa-1").state == "playing"
    assert [ids for r in receipted for ids in r.values()] == [[json.loads(started[1])["event_id"]]]
    assert ingest.failed == 1


def test_a_heard_verdict_is_stored_for_the_device_sent_the_play_and_refused_from_another(
    sessions,
):
    _only_to_loa_1(sessions)
    ingest = Ingest(sessions)
    heard = dict(play_id="b-2", broadcast_id="b-2", verdict="quiet", level_db=-6.2, delay_ms=40)
    ingest.apply_batch([_play_event("playback.heard", device_id="loa-2", **heard)])
    assert [e.payload["detail"] for e in _security(sessions, "loa-2")] == ["not_sent"]
    ingest.apply_batch([_play_event("playback.heard", device_id="loa-1", **heard)])
    with sessions() as s:
        delivery = s.scalars(select(Delivery).where(Delivery.broadcast_id == "b-2")).one()
        assert delivery.hearing is not None
        assert (delivery.hearing["verdict"], delivery.hearing["level_db"]) == ("quiet", -6.2)
        assert s.get(Device, "loa-1").hearing["last"]["verdict"] == "quiet"
        assert s.get(Device, "loa-2").hearing is None
