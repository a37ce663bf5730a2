"""Notices reach people: a cluster that loses power produces exactly one e-mail (a real SMTP
server) and one webhook call (a real HTTP receiver) within the rule's window; a failed call is
retried, a flood is suppressed, every notice is recorded."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select

from controller.db.models import Alarm, Device, Notice, Zone
from controller.db.session import make_engine, make_sessionmaker, migrate
from controller.notices.channels import WebhookChannel
from controller.services.notices import Notices
from controller.settings import Settings
from protocol.messages import utcnow
from tests.support.receivers import SmtpServer, WebhookReceiver
from tests.support.stack import Stack, wait_for


def test_an_offline_cluster_is_told_once_by_mail_and_webhook(tmp_path, mosquitto):
    with SmtpServer() as smtp, WebhookReceiver() as hook:
        stack = Stack(
            tmp_path,
            mosquitto.port,
            offline_alarm_min=0.05,
            notice_every_s=1,
            notice_smtp_host="127.0.0.1",
            notice_smtp_port=smtp.port,
            notice_smtp_to=["kythuat@xa.gov.vn"],
            notice_webhook_url=hook.url,
            notice_webhook_token="zalo-oa-secret",
            station_name="Đài xã Tân Lập",
        ).start()
        try:
            stack.add_zone("thon-dong", "Thôn Đông")
            stack.register("loa-cho", ["thon-dong"])
            stack.start_agent("loa-cho").kill()  # then the power goes: only the last will
            wait_for(
                lambda: stack.api.get("/api/devices/loa-cho").json()["status"] == "offline",
                timeout=20,
                what="offline",
            )
            wait_for(
                lambda: smtp.messages and hook.bodies,
                timeout=30,
                interval=0.2,
                what="an e-mail and a webhook call",
            )
            # not before the rule's 0.05 min (3 s) offline, on the controller's own record
            with stack.services.sessions() as session:  # type: ignore[union-attr]
                gone_at = session.get(Device, "loa-cho").status_at
                told_at = min(n.created_at for n in session.scalars(select(Notice)))
            assert (told_at - gone_at).total_seconds() >= 3
            time.sleep(3)  # several more passes of the rules: nothing told twice
            assert len(smtp.messages) == 1
            assert len(hook.bodies) == 1
            mail = smtp.messages[0]
            assert mail["Subject"] == "[Đài xã Tân Lập] Cụm loa loa-cho mất kết nối"
            assert mail["To"] == "kythuat@xa.gov.vn"
            assert "Thôn Đông" in mail.get_content()
            body = hook.bodies[0]
            assert body["rule"] == "cluster_offline"
            assert body["detail"]["device_id"] == "loa-cho"
            assert hook.headers[0]["Authorization"] == "Bearer zalo-oa-secret"
            notices = stack.api.get("/api/notices").json()
            assert sorted((n["channel"], n["state"]) for n in notices) == [
                ("email", "sent"),
                ("web", "shown"),
                ("webhook", "sent"),
            ]
            page = stack.person("ky-thuat", "technician").get("/ui/notices").text
            assert "Cụm loa loa-cho mất kết nối" in page
        finally:
            stack.stop()


def test_a_failed_call_is_retried_and_a_flood_suppressed(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'n.db'}")
    migrate(engine)
    sessions = make_sessionmaker(engine)
    now = utcnow()
    with sessions.begin() as session:
        session.add(Zone(id="ban-nam", name="Bản Nậm", geocodes=[]))
        for i in range(3):
            session.add(Device(id=f"loa-{i}", name=f"Loa {i}", token_hash="-", capabilities=[]))
            session.flush()
            session.add(
                Alarm(
                    device_id=f"loa-{i}",
                    key="speaker_line:1",
                    code="speaker_line",
                    channel=1,
                    raised_at=now - timedelta(minutes=i),
                )
            )
    settings = Settings(data_dir=tmp_path, notice_per_hour=3)
    with WebhookReceiver(fail_first=1) as hook:
        notices = Notices(sessions, settings, [WebhookChannel(hook.url)])
        assert notices.tick() == 2  # three to tell: the first call failed (503), two sent
        assert notices.tick() == 1  # the failed one, again
        assert notices.tick() == 0  # nothing new, nothing told twice
        with sessions.begin() as session:  # a fourth line dies: over 3 an hour
            session.add(
                Alarm(
                    device_id="loa-0",
                    key="speaker_line:2",
                    code="speaker_line",
                    channel=2,
                    raised_at=now,
                )
            )
        assert notices.tick() == 0
        with sessions() as session:
            rows = list(session.scalars(select(Notice).where(Notice.channel == "webhook")))
        assert sorted((n.state, n.attempts) for n in rows) == [
            ("sent", 1),
            ("sent", 1),
            ("sent", 2),
            ("suppressed", 0),
        ]
        assert len(hook.bodies) == 3
        assert hook.calls == 4
        assert all("Đường loa 2 của Loa" in b["subject"] for b in hook.bodies)
    assert len(notices.shown()) == 4  # the web UI lists every one
    engine.dispose()
