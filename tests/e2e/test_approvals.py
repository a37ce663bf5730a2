"""Approvals through the API: nothing a broadcaster makes reaches a loudspeaker before an
approver releases it, and every emergency needs two different people."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy

from controller.db.models import AuditEntry
from protocol.messages import utcnow
from tests.support.stack import Stack

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture
def station(stack: Stack, speech_wav):
    stack.add_zone("thon-dong")
    stack.register("loa-1", ["thon-dong"])
    stack.start_agent("loa-1")
    people = {
        "lan": stack.person("lan", "broadcaster"),
        "hoa": stack.person("hoa", "broadcaster"),
        "chu-tich": stack.person("chu-tich", "approver"),
    }
    media = (
        people["lan"]
        .post("/api/media", files={"file": ("ban-tin.wav", speech_wav.read_bytes())})
        .json()
    )
    return stack, people, media


def test_broadcasters_bulletin_plays_only_after_an_approver_releases_it(station):
    stack, people, media = station
    r = people["lan"].post(
        "/api/broadcasts", json={"media_sha256": media["sha256"], "targets": ["zone:thon-dong"]}
    )
    assert r.status_code == 201
    b = r.json()
    assert b["state"] == "pending_approval"
    assert b["created_by"] == "lan"
    time.sleep(4)  # longer than the sync lead: had it been sent, it would have played by now
    assert stack.output_files("loa-1") == []
    assert stack.signed_for(b["id"]) == []  # and nothing was ever signed for it
    waiting = stack.api.get("/api/broadcasts", params={"state": "pending_approval"}).json()
    assert [x["id"] for x in waiting] == [b["id"]]
    # a broadcaster cannot approve, not even someone else's
    assert people["hoa"].post(f"/api/broadcasts/{b['id']}/approve").status_code == 403
    r = people["chu-tich"].post(f"/api/broadcasts/{b['id']}/approve")
    assert r.status_code == 200
    assert r.json()["approved_by"] == "chu-tich"
    stack.wait_states(b["id"], {"played"})
    again = people["chu-tich"].post(f"/api/broadcasts/{b['id']}/approve")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "broadcast.not_held"


def test_rejected_bulletin_never_plays_and_says_why(station):
    stack, people, media = station
    b = (
        people["lan"]
        .post(
            "/api/broadcasts", json={"media_sha256": media["sha256"], "targets": ["zone:thon-dong"]}
        )
        .json()
    )
    no_reason = people["chu-tich"].post(f"/api/broadcasts/{b['id']}/reject", json={"reason": ""})
    assert no_reason.status_code == 422
    r = people["chu-tich"].post(
        f"/api/broadcasts/{b['id']}/reject", json={"reason": "Sai ngày tiêm chủng"}
    )
    assert r.status_code == 200
    out = r.json()
    assert out["state"] == "rejected"
    assert out["rejected_reason"] == "Sai ngày tiêm chủng"
    assert {d["state"] for d in out["deliveries"]} == {"cancelled"}
    assert people["chu-tich"].post(f"/api/broadcasts/{b['id']}/approve").status_code == 409
    time.sleep(3)
    assert stack.output_files("loa-1") == []
    assert stack.signed_for(b["id"]) == []


def test_a_draft_plays_nowhere_until_its_author_submits_it(station):
    stack, people, media = station
    draft = (
        people["lan"]
        .post(
            "/api/broadcasts",
            json={"media_sha256": media["sha256"], "targets": ["zone:thon-dong"], "draft": True},
        )
        .json()
    )
    assert draft["state"] == "draft"
    assert draft["approved_by"] is None
    # not in the approver's queue, and nobody but its author may send it on
    assert people["chu-tich"].post(f"/api/broadcasts/{draft['id']}/approve").status_code == 409
    other = people["hoa"].post(f"/api/broadcasts/{draft['id']}/submit")
    assert other.status_code == 403
    assert other.json()["error"]["code"] == "broadcast.not_yours"
    time.sleep(4)  # longer than the sync lead: a draft is never sent
    assert stack.output_files("loa-1") == []
    assert stack.signed_for(draft["id"]) == []
    submitted = people["lan"].post(f"/api/broadcasts/{draft['id']}/submit")
    assert submitted.status_code == 200
    assert submitted.json()["state"] == "pending_approval"
    again = people["lan"].post(f"/api/broadcasts/{draft['id']}/submit")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "broadcast.not_draft"
    people["chu-tich"].post(f"/api/broadcasts/{draft['id']}/approve")
    stack.wait_states(draft["id"], {"played"})

    # an approver's own draft goes straight out when submitted; an emergency draft still
    # waits for a second person
    own = (
        people["chu-tich"]
        .post(
            "/api/broadcasts",
            json={"media_sha256": media["sha256"], "targets": ["zone:thon-dong"], "draft": True},
        )
        .json()
    )
    sent = people["chu-tich"].post(f"/api/broadcasts/{own['id']}/submit").json()
    # released, not held (a "now" broadcast may already be on its way when the answer is read)
    assert sent["state"] in ("scheduled", "sending", "sent")
    assert sent["approved_by"] == "chu-tich"
    stack.wait_states(own["id"], {"played"})
    urgent = (
        people["chu-tich"]
        .post(
            "/api/broadcasts",
            json={
                "media_sha256": media["sha256"],
                "targets": ["all"],
                "priority": "emergency",
                "draft": True,
            },
        )
        .json()
    )
    assert (
        people["chu-tich"].post(f"/api/broadcasts/{urgent['id']}/submit").json()["state"]
        == "pending_confirmation"
    )
    actions = [
        (e["actor"], e["action"], e["outcome"])
        for e in stack.api.get("/api/audit", params={"action": "broadcast."}).json()
    ]
    assert ("lan", "broadcast.submit", "ok") in actions
    assert ("hoa", "broadcast.submit", "denied") in actions


def test_emergency_needs_two_different_people(station):
    stack, people, media = station
    for sender in ("lan", "chu-tich"):  # even an approver cannot send one alone
        b = (
            people[sender]
            .post(
                "/api/broadcasts",
                json={"media_sha256": media["sha256"], "targets": ["all"], "priority": "emergency"},
            )
            .json()
        )
        assert b["state"] == "pending_confirmation"
        same = people[sender].post(f"/api/broadcasts/{b['id']}/confirm")
        assert same.status_code == 403
        assert same.json()["error"]["code"] == "approval.same_person"
        assert stack.get_broadcast(b["id"])["state"] == "pending_confirmation"
    other = "hoa"
    confirmed = people[other].post(f"/api/broadcasts/{b['id']}/confirm")
    assert confirmed.status_code == 200
    assert confirmed.json()["approved_by"] == other
    stack.wait_states(b["id"], {"played"})
    assert len(stack.output_files("loa-1")) == 1
    actions = [
        (e["actor"], e["action"], e["outcome"])
        for e in stack.api.get("/api/audit", params={"action": "broadcast."}).json()
    ]
    assert ("chu-tich", "broadcast.confirm", "denied") in actions
    assert ("hoa", "broadcast.confirm", "ok") in actions


def test_schedule_edits_of_a_broadcaster_wait_for_an_approver(station):
    stack, people, media = station
    start = (utcnow() + timedelta(days=1)).astimezone(HCM)
    spec = {
        "name": "ban-tin-sang",
        "title": "Bản tin sáng",
        "targets": ["zone:thon-dong"],
        "start": "06:30",
        "rrule": "FREQ=DAILY",
        "valid_from": start.date().isoformat(),
        "programme": [{"media": media["sha256"]}],
    }
    r = people["lan"].put("/api/schedules/ban-tin-sang", json=spec)
    assert r.status_code == 202
    assert r.json()["added"] == ["ban-tin-sang"]
    change_id = r.json()["pending_change"]
    assert stack.api.get("/api/schedules").json()["schedules"] == []  # not applied yet
    pending = people["chu-tich"].get("/api/schedule-changes", params={"state": "pending"}).json()
    assert [c["id"] for c in pending] == [change_id]
    assert pending[0]["created_by"] == "lan"
    assert people["hoa"].post(f"/api/schedule-changes/{change_id}/approve").status_code == 403
    ok = people["chu-tich"].post(f"/api/schedule-changes/{change_id}/approve")
    assert ok.status_code == 200
    assert ok.json()["applied"]
    assert [s["name"] for s in stack.api.get("/api/schedules").json()["schedules"]] == [
        "ban-tin-sang"
    ]
    # a broken edit is refused at once, with the problem, and nothing waits
    broken = dict(spec, name="trung-gio", programme=[{"media": "f" * 64}])
    bad = people["lan"].put("/api/schedules/trung-gio", json=broken)
    assert bad.status_code == 422
    assert bad.json()["problems"]
    assert (
        len(people["chu-tich"].get("/api/schedule-changes", params={"state": "pending"}).json())
        == 0
    )
    # rejected with a reason
    r = people["lan"].delete("/api/schedules/ban-tin-sang")
    assert r.status_code == 202
    rej = people["chu-tich"].post(
        f"/api/schedule-changes/{r.json()['pending_change']}/reject",
        json={"reason": "Giữ bản tin sáng"},
    )
    assert rej.status_code == 200
    assert rej.json()["state"] == "rejected"
    assert len(stack.api.get("/api/schedules").json()["schedules"]) == 1
    # the schedule starts tomorrow: nothing of it plays during the test
    plan = stack.api.get("/api/schedules/plan", params={"days": 3}).json()
    assert plan
    assert all(datetime.fromisoformat(p["local_start"]).date() >= start.date() for p in plan)


def test_audit_log_is_append_only_and_exportable(station):
    stack, people, media = station
    csv = stack.api.get("/api/audit/export.csv")
    assert csv.status_code == 200
    assert csv.text.startswith("\ufeffid,ts,actor,action")
    assert "media.upload" in csv.text
    assert ",lan," in csv.text
    assert people["lan"].get("/api/audit/export.csv").status_code == 403
    engine = stack.services.engine  # type: ignore[union-attr]
    for statement in (
        sqlalchemy.update(AuditEntry).values(actor="ke-gian"),
        sqlalchemy.delete(AuditEntry),
    ):
        with pytest.raises(sqlalchemy.exc.DatabaseError), engine.begin() as conn:
            conn.execute(statement)
    assert stack.api.get("/api/audit").json()[-1]["actor"] != "ke-gian"


def test_a_bulletin_nobody_approved_in_time_expires_and_is_given_a_new_time(station):
    """Issue 29: held past its start it expires (said on every list, its plays called off
    with the reason), an approval then says so in words, and "hẹn lại" holds it again."""
    stack, people, media = station
    start = utcnow() + timedelta(seconds=5)
    made = []
    for _ in range(2):
        r = people["lan"].post(
            "/api/broadcasts",
            json={
                "media_sha256": media["sha256"],
                "targets": ["zone:thon-dong"],
                "start_at": start.isoformat(),
            },
        )
        assert r.status_code == 201, r.text
        made.append(r.json()["id"])
    ticked, approved_late = made

    # an approver who comes too late is told so, and the bulletin expires at once
    time.sleep(max(0.0, (start - utcnow()).total_seconds()) + 0.5)
    r = people["chu-tich"].post(f"/api/broadcasts/{approved_late}/approve")
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "broadcast.expired_on_release"
    assert "hẹn lại" in r.json()["error"]["message"]
    assert stack.get_broadcast(approved_late)["state"] == "expired"
    # nobody looked at the other: the controller expires it by itself within its tick
    b = stack.wait_states(ticked, {"cancelled"})
    assert b["state"] == "expired"
    assert b["deliveries"][0]["reason"] == "not approved before its start"
    r = people["chu-tich"].post(f"/api/broadcasts/{ticked}/approve")  # after the tick: same words
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "broadcast.expired_on_release"
    waiting = stack.api.get("/api/broadcasts", params={"state": "pending_approval"}).json()
    assert waiting == []
    assert stack.output_files("loa-1") == []

    # "hẹn lại": not someone else's broadcaster, not a time gone, yes its author
    tomorrow = (utcnow().astimezone(HCM) + timedelta(days=1)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    r = people["hoa"].post(
        f"/api/broadcasts/{ticked}/reschedule", json={"start_at": tomorrow.isoformat()}
    )
    assert r.status_code == 403
    r = people["lan"].post(
        f"/api/broadcasts/{ticked}/reschedule",
        json={"start_at": (utcnow() - timedelta(minutes=1)).isoformat()},
    )
    assert r.status_code == 422
    assert stack.get_broadcast(ticked)["state"] == "expired"  # nothing changed
    r = people["lan"].post(
        f"/api/broadcasts/{ticked}/reschedule",
        json={"start_at": tomorrow.replace(tzinfo=None).isoformat()},  # station time
    )
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["state"] == "pending_approval"
    assert datetime.fromisoformat(b["start_at"]) == tomorrow
    assert [d["state"] for d in b["deliveries"]] == ["pending"]
    r = people["chu-tich"].post(f"/api/broadcasts/{ticked}/approve")
    assert r.status_code == 200
    assert r.json()["state"] == "scheduled"
    # an approver may give a new time to anyone's
    r = people["chu-tich"].post(
        f"/api/broadcasts/{approved_late}/reschedule", json={"start_at": tomorrow.isoformat()}
    )
    assert r.status_code == 200
    assert r.json()["state"] == "pending_approval"
