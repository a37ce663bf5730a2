"""Plan service: materialise every device's plan for the next 48 h, sign it, publish it retained
on the device's plan topic when it changed. Runs at start, after a schedule change, and every
few minutes as the window slides."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from protocol import topics
from protocol.messages import utcnow

from .db.models import Device, DevicePlan
from .domain.plans import build_plans
from .domain.schedules import expand_all
from .fleet.commands import CommandSigner
from .fleet.gateway import MqttGateway, NotConnected
from .schedules import ScheduleService, fleet, media_refs

log = logging.getLogger(__name__)

PLAN_WINDOW = timedelta(hours=48)


class PlanService:
    def __init__(self, sessions: sessionmaker[Session], schedules: ScheduleService,
                 signer: CommandSigner, gateway: MqttGateway, max_late_s: int):
        self._sessions = sessions
        self._schedules = schedules
        self._signer = signer
        self._gateway = gateway
        self._max_late_s = max_late_s
        self._lock = threading.Lock()

    def publish_changed(self) -> int:
        """Publish the plans that differ from what each device last got; returns how many."""
        if not self._gateway.connected.is_set():
            return 0
        with self._lock:
            now = utcnow()
            end = now + PLAN_WINDOW
            with self._sessions() as session:
                schedule_set = self._schedules.current(session)
                the_fleet = fleet(session)
                media = media_refs(session)
                devices = list(session.scalars(select(Device.id)
                                               .where(Device.retired.is_(False))))
                published = {p.device_id: p.version for p in session.scalars(select(DevicePlan))}
            durations = {sha: ms for sha, (_, ms) in media.items()}
            occurrences = expand_all(schedule_set, now, end, durations)
            plans = build_plans(schedule_set, occurrences, the_fleet, devices, media, now, end,
                                self._max_late_s)
            done: list[tuple[str, str, str, int]] = []
            for device_id, plan in plans.items():
                if published.get(device_id) == plan.version:
                    continue
                cmd = self._signer.issue(f"device:{device_id}", plan, end,
                                         seq_key=f"plan|device:{device_id}")
                try:
                    self._gateway.publish(topics.device_topic(device_id, "plan"), cmd.data,
                                          qos=1, retain=True)
                except NotConnected:
                    log.warning("plans not published: broker unreachable")
                    break
                done.append((device_id, plan.version, cmd.cmd_id, len(plan.entries)))
            if done:  # one transaction for the bookkeeping
                stamp = utcnow()
                with self._sessions.begin() as session:
                    rows = {r.device_id: r for r in session.scalars(
                        select(DevicePlan).where(DevicePlan.device_id.in_([d[0] for d in done])))}
                    for device_id, version, cmd_id, count in done:
                        row = rows.get(device_id)
                        if row is None:
                            session.add(DevicePlan(device_id=device_id, version=version,
                                                   cmd_id=cmd_id, entries=count, window_end=end,
                                                   published_at=stamp))
                        else:
                            row.version, row.cmd_id, row.entries = version, cmd_id, count
                            row.window_end, row.published_at = end, stamp
            sent = len(done)
            if sent:
                log.info("published %d changed plans", sent)
            return sent
