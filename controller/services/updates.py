"""Signed agent updates: releases (wheels) the controller keeps and serves, and rollouts that
send them to devices in waves (``domain/rollout.py``), one signed ``update`` command per
device through the command path. The leader's ``tick`` follows each device's outcome (its
``update`` event) and moves the waves on, or stops at the first failure."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import uuid
import zipfile
from collections.abc import Callable
from datetime import datetime, timedelta
from email.parser import HeaderParser
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import UpdateCommand, utcnow

from ..auth import Principal
from ..db.models import AgentRelease, Device, DeviceEvent, DeviceZone, Rollout, RolloutTarget
from ..domain.device import DeviceStatus
from ..domain.errors import Conflict, Invalid, NotFound, TooLarge
from ..domain.rollout import (
    ROLLOUT_TRANSITIONS,
    RolloutState,
    TargetState,
    WaveOutcome,
    assign_waves,
    can_move,
    wave_outcome,
)
from ..fleet.commands import CommandPath
from ..fsutil import AsyncReader, receive_upload
from .audit import AuditLog

log = logging.getLogger(__name__)

MAX_RELEASE_BYTES = 100 * 2**20
VERSION_RE = re.compile(r"^[0-9][0-9A-Za-z.+!_-]{0,39}$")
UPDATE_CAPABILITY = "update"
RELEASE_PATH = "/edge/releases/"
"""Where devices fetch a release (with their own credentials)."""


class ReleaseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    version: str
    filename: str
    sha256: str
    size: int
    notes: str
    uploaded_by: str
    uploaded_at: datetime
    devices_running: int = Field(0, description="devices whose agent runs this version now")


class RolloutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str = Field(max_length=40)
    zone_id: str | None = Field(None, max_length=64, description="only this zone's devices")
    devices: list[str] | None = Field(
        None, max_length=10_000, description="only these devices (else every device)"
    )
    confirm_s: int = Field(
        180,
        ge=10,
        le=3600,
        description="a device must come back online "
        "on the new release this soon, or it goes back on its own",
    )
    wave_timeout_s: int = Field(
        1800,
        ge=60,
        le=7 * 86400,
        description="a device of a wave with no outcome this long after the wave began fails it",
    )


class TargetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    device_id: str
    wave: int
    state: TargetState
    from_version: str
    running: str = ""
    sent_at: datetime | None
    done_at: datetime | None
    reason: str
    detail: str


class RolloutOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    version: str
    state: RolloutState
    wave: int
    waves: int
    wave_at: datetime
    zone_id: str | None
    confirm_s: int
    wave_timeout_s: int
    reason: str
    created_by: str
    created_at: datetime
    finished_at: datetime | None
    counts: dict[str, int] = Field(default_factory=dict)
    targets: list[TargetOut] = Field(default_factory=list)


def read_wheel(path: Path, filename: str) -> str:
    """The version of an agent wheel (the ``loalang-agent`` distribution, as ``loalang release
    build`` makes it), or ``Invalid`` saying why it is not one."""
    if not re.fullmatch(r"loalang_agent-[A-Za-z0-9_.+!]+-py3-none-any\.whl", filename):
        raise Invalid("release.bad_name", filename=filename[:100])
    try:
        with zipfile.ZipFile(path) as wheel:
            names = wheel.namelist()
            meta = next(
                (n for n in names if re.fullmatch(r"loalang_agent-[^/]+\.dist-info/METADATA", n)),
                None,
            )
            entry = next(
                (
                    n
                    for n in names
                    if re.fullmatch(r"loalang_agent-[^/]+\.dist-info/entry_points\.txt", n)
                ),
                None,
            )
            if meta is None or entry is None or "edge_agent/__main__.py" not in names:
                raise Invalid("release.not_agent")
            headers = HeaderParser().parsestr(wheel.read(meta).decode("utf-8", "replace"))
            entry_points = wheel.read(entry).decode("utf-8", "replace")
    except (zipfile.BadZipFile, OSError, KeyError):
        raise Invalid("release.not_wheel") from None
    version = (headers.get("Version") or "").strip()
    name = headers.get("Name", "").strip().lower().replace("_", "-")
    if name != "loalang-agent" or not VERSION_RE.match(version):
        raise Invalid("release.not_agent")
    if "loalang-agent" not in entry_points:
        raise Invalid("release.not_agent")
    if filename != f"loalang_agent-{version.replace('-', '_')}-py3-none-any.whl":
        raise Invalid("release.name_version", filename=filename[:100], version=version)
    return version


class Updates:
    def __init__(
        self,
        directory: Path,
        sessions: sessionmaker[Session],
        commands: CommandPath,
        audit: AuditLog,
        changed: Callable[[], None] = lambda: None,
    ):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self._sessions = sessions
        self._commands = commands
        self._audit = audit
        self._changed = changed

    # --- releases ---------------------------------------------------------------------------

    async def receive(self, upload: AsyncReader) -> Path:
        """An uploaded wheel, copied to a scratch file beside the releases (refused past
        ``MAX_RELEASE_BYTES`` or empty); ``add_release`` consumes it."""
        return await receive_upload(
            upload,
            self.dir / f".upload-{uuid.uuid4().hex}",
            MAX_RELEASE_BYTES,
            lambda: TooLarge("upload.too_large", limit_mb=MAX_RELEASE_BYTES // 2**20),
            lambda: Invalid("upload.empty"),
        )

    def add_release(self, who: Principal, src: Path, filename: str, notes: str = "") -> ReleaseOut:
        """Keep a wheel of the agent as a release (``src`` is consumed); nothing is stored
        when it is not one, or when its version is already kept."""
        try:
            version = read_wheel(src, filename)
            digest = hashlib.sha256()
            with src.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
            with self._sessions.begin() as session:
                if session.get(AgentRelease, version) is not None:
                    raise Conflict("release.exists", version=version)
                row = AgentRelease(
                    version=version,
                    filename=filename,
                    sha256=digest.hexdigest(),
                    size=src.stat().st_size,
                    notes=notes[:500],
                    uploaded_by=who.username,
                    uploaded_at=utcnow(),
                )
                session.add(row)
                os.replace(src, self.dir / filename)  # before the commit: never a row alone
                out = ReleaseOut.model_validate(row)
        finally:
            src.unlink(missing_ok=True)
        self._audit.record(who, "release.add", version, sha256=out.sha256, size=out.size)
        log.info("agent release %s kept (%s)", version, out.sha256[:12])
        return out

    def versions(self) -> dict[str, int]:
        """How many devices in service run each agent version ("" before a first report)."""
        with self._sessions() as session:
            return {
                v: n
                for v, n in session.execute(
                    select(Device.version, func.count())
                    .where(Device.retired.is_(False))
                    .group_by(Device.version)
                )
            }

    def releases(self) -> list[ReleaseOut]:
        running = self.versions()
        with self._sessions() as session:
            rows = session.scalars(
                select(AgentRelease).order_by(AgentRelease.uploaded_at.desc())
            ).all()
            return [
                ReleaseOut.model_validate(r).model_copy(
                    update={"devices_running": running.get(r.version, 0)}
                )
                for r in rows
            ]

    def release_file(self, filename: str) -> Path:
        """A kept release's wheel, for a device to download."""
        with self._sessions() as session:
            row = session.scalar(select(AgentRelease).where(AgentRelease.filename == filename))
        path = self.dir / filename if row is not None else None
        if path is None or not path.is_file():
            raise NotFound("release.not_found", version=filename[:100])
        return path

    # --- rollouts ---------------------------------------------------------------------------

    def start(self, who: Principal, req: RolloutRequest) -> RolloutOut:
        """Send a release to devices in waves; one rollout at a time."""
        now = utcnow()
        with self._sessions.begin() as session:
            release = session.get(AgentRelease, req.version)
            if release is None:
                raise NotFound("release.not_found", version=req.version)
            busy = session.scalar(
                select(Rollout.id).where(
                    Rollout.state.in_([RolloutState.running.value, RolloutState.stopped.value])
                )
            )
            if busy is not None:
                raise Conflict("rollout.under_way", rollout=busy)
            query = select(Device).where(Device.retired.is_(False))
            if req.zone_id:
                query = query.where(
                    Device.id.in_(
                        select(DeviceZone.device_id).where(DeviceZone.zone_id == req.zone_id)
                    )
                )
            if req.devices is not None:
                query = query.where(Device.id.in_(req.devices))
            chosen = list(session.scalars(query))
            if req.devices is not None:
                unknown = set(req.devices) - {d.id for d in chosen}
                if unknown:
                    raise NotFound("device.not_found", id=sorted(unknown)[0])
            devices = [d for d in chosen if d.version != req.version]
            if not devices:
                raise Invalid("rollout.no_devices", version=req.version)
            # online first, so the first wave is a device that answers now
            devices.sort(key=lambda d: (d.status != DeviceStatus.online, d.id))
            waves = assign_waves([d.id for d in devices])
            rollout = Rollout(
                id=uuid.uuid4().hex[:16],
                version=req.version,
                state=RolloutState.running.value,
                wave=0,
                waves=max(waves.values()) + 1,
                wave_at=now,
                zone_id=req.zone_id,
                confirm_s=req.confirm_s,
                wave_timeout_s=req.wave_timeout_s,
                reason="",
                created_by=who.username,
                created_at=now,
            )
            session.add(rollout)
            session.flush()
            for d in devices:
                session.add(
                    RolloutTarget(
                        rollout_id=rollout.id,
                        device_id=d.id,
                        wave=waves[d.id],
                        state=TargetState.waiting.value,
                        from_version=d.version,
                        reason="",
                        detail="",
                    )
                )
            rollout_id = rollout.id
        self._audit.record(
            who, "rollout.start", rollout_id, version=req.version, devices=len(devices)
        )
        self.tick()
        return self.rollout(rollout_id)

    def rollouts(self, limit: int = 20) -> list[RolloutOut]:
        with self._sessions() as session:
            ids = list(
                session.scalars(select(Rollout.id).order_by(Rollout.created_at.desc()).limit(limit))
            )
        return [self.rollout(i, targets=False) for i in ids]

    def rollout(self, rollout_id: str, targets: bool = True) -> RolloutOut:
        with self._sessions() as session:
            row = session.get(Rollout, rollout_id)
            if row is None:
                raise NotFound("rollout.not_found", rollout=rollout_id[:40])
            rows = session.scalars(
                select(RolloutTarget)
                .where(RolloutTarget.rollout_id == rollout_id)
                .order_by(RolloutTarget.wave, RolloutTarget.device_id)
            ).all()
            versions = (
                {
                    d: v
                    for d, v in session.execute(
                        select(Device.id, Device.version).where(
                            Device.id.in_([t.device_id for t in rows])
                        )
                    )
                }
                if targets
                else {}
            )
            counts: dict[str, int] = {}
            for t in rows:
                counts[t.state] = counts.get(t.state, 0) + 1
            out = RolloutOut.model_validate(row).model_copy(update={"counts": counts})
            if targets:
                out.targets = [
                    TargetOut.model_validate(t).model_copy(
                        update={"running": versions.get(t.device_id, "")}
                    )
                    for t in rows
                ]
            return out

    def stop(self, who: Principal, rollout_id: str) -> RolloutOut:
        """Send nothing more (what was sent finishes on the devices)."""
        self._move(rollout_id, RolloutState.stopped, f"stopped by {who.username}")
        self._audit.record(who, "rollout.stop", rollout_id)
        return self.rollout(rollout_id)

    def cancel(self, who: Principal, rollout_id: str) -> RolloutOut:
        self._move(rollout_id, RolloutState.cancelled, f"cancelled by {who.username}")
        self._audit.record(who, "rollout.cancel", rollout_id)
        return self.rollout(rollout_id)

    def resume(self, who: Principal, rollout_id: str) -> RolloutOut:
        """Go on with a stopped rollout: the wave's failed devices are tried again."""
        with self._sessions.begin() as session:
            row = self._locked(session, rollout_id)
            self._check_move(row, RolloutState.running)
            row.state, row.reason, row.wave_at = RolloutState.running.value, "", utcnow()
            for t in session.scalars(
                select(RolloutTarget).where(
                    RolloutTarget.rollout_id == rollout_id, RolloutTarget.wave == row.wave
                )
            ):
                if TargetState(t.state).failed:
                    t.state, t.cmd_id, t.sent_at, t.done_at = (
                        TargetState.waiting.value,
                        None,
                        None,
                        None,
                    )
        self._audit.record(who, "rollout.resume", rollout_id)
        self.tick()
        return self.rollout(rollout_id)

    def _locked(self, session: Session, rollout_id: str) -> Rollout:
        row = session.get(Rollout, rollout_id, with_for_update=True)
        if row is None:
            raise NotFound("rollout.not_found", rollout=rollout_id[:40])
        return row

    @staticmethod
    def _check_move(row: Rollout, state: RolloutState) -> None:
        if state not in ROLLOUT_TRANSITIONS[RolloutState(row.state)]:
            raise Conflict("rollout.bad_state", state=row.state)

    def _move(self, rollout_id: str, state: RolloutState, reason: str) -> None:
        with self._sessions.begin() as session:
            row = self._locked(session, rollout_id)
            self._check_move(row, state)
            # why it stopped stays readable after a person stops or cancels it
            row.state = state.value
            row.reason = (f"{row.reason}; {reason}" if row.reason else reason)[-300:]
            if state is RolloutState.cancelled:
                row.finished_at = utcnow()
        self._changed()

    # --- the leader's tick ----------------------------------------------------------------

    def tick(self) -> None:
        """Follow the running rollout: outcomes in, waves on, commands out."""
        with self._sessions() as session:
            ids = list(
                session.scalars(
                    select(Rollout.id).where(Rollout.state == RolloutState.running.value)
                )
            )
        for rollout_id in ids:
            try:
                self._step(rollout_id)
            except Exception:
                log.exception("rollout %s: step failed", rollout_id)

    def _step(self, rollout_id: str) -> None:
        now = utcnow()
        to_send: list[str] = []  # devices, sent to after the commit
        with self._sessions.begin() as session:
            row = self._locked(session, rollout_id)
            if row.state != RolloutState.running.value:
                return
            release = session.get(AgentRelease, row.version)
            state, wave = row.state, row.wave
            moved = False
            while True:
                targets = list(
                    session.scalars(
                        select(RolloutTarget).where(
                            RolloutTarget.rollout_id == rollout_id, RolloutTarget.wave == row.wave
                        )
                    )
                )
                moved |= self._outcomes(session, targets, row, now)
                outcome = wave_outcome(TargetState(t.state) for t in targets)
                if outcome is WaveOutcome.failed:
                    bad = next(t for t in targets if TargetState(t.state).failed)
                    row.state = RolloutState.stopped.value
                    row.reason = f"{bad.device_id}: {bad.state} {bad.reason}".strip()[:300]
                    log.error("rollout %s of %s stopped: %s", rollout_id, row.version, row.reason)
                    break
                if outcome is WaveOutcome.done:
                    if row.wave + 1 >= row.waves:
                        row.state = RolloutState.finished.value
                        row.finished_at = now
                        log.info("rollout %s of %s finished", rollout_id, row.version)
                        break
                    row.wave, row.wave_at = row.wave + 1, now
                    continue
                devices = {
                    d.id: d
                    for d in session.scalars(
                        select(Device).where(Device.id.in_([t.device_id for t in targets]))
                    )
                }
                for t in targets:
                    if t.state != TargetState.waiting.value:
                        continue
                    device = devices.get(t.device_id)
                    if device is None or device.retired:
                        moved |= self._set(t, TargetState.skipped, now, "retired")
                    elif device.version == row.version:
                        moved |= self._set(t, TargetState.installed, now, "already")
                    elif device.status == DeviceStatus.online and UPDATE_CAPABILITY not in (
                        device.capabilities or []
                    ):
                        moved |= self._set(
                            t,
                            TargetState.skipped,
                            now,
                            "unsupported",
                            f"agent {device.version or '?'} cannot update itself",
                        )
                    elif device.status == DeviceStatus.online:  # claimed here: one sender only
                        t.state, t.sent_at = TargetState.sent.value, now
                        to_send.append(t.device_id)
                break
            confirm_s = row.confirm_s
            changed = moved or (row.state, row.wave) != (state, wave)
        if release is not None:
            for device_id in to_send:
                self._send(rollout_id, device_id, release, confirm_s)
        if changed or to_send:
            self._changed()

    def _send(self, rollout_id: str, device_id: str, release: AgentRelease, confirm_s: int) -> None:
        cmd = UpdateCommand(
            version=release.version,
            url=RELEASE_PATH + release.filename,
            sha256=release.sha256,
            size=release.size,
            confirm_s=confirm_s,
        )
        sent = self._commands.send(f"device:{device_id}", cmd)
        with self._sessions.begin() as session:
            t = session.get(RolloutTarget, (rollout_id, device_id))
            if t is not None:
                t.cmd_id = sent.cmd_id
        log.info("rollout %s: update to %s sent to %s", rollout_id, release.version, device_id)

    def _outcomes(
        self, session: Session, targets: list[RolloutTarget], row: Rollout, now: datetime
    ) -> bool:
        """Each sent device's ``update`` event, or the wave's time running out; whether any
        device's state moved."""
        moved = False
        sent = {t.cmd_id: t for t in targets if t.state == TargetState.sent.value and t.cmd_id}
        by_device = {t.device_id: t for t in sent.values()}
        if sent:
            for event in session.scalars(
                select(DeviceEvent).where(
                    DeviceEvent.type == "update",
                    DeviceEvent.device_id.in_([t.device_id for t in sent.values()]),
                )
            ):
                target = sent.get(event.payload.get("cmd_id")) or by_device.get(event.device_id)
                if target is None or target.device_id != event.device_id:
                    continue
                if target.cmd_id != event.payload.get("cmd_id") and not (
                    # an outcome of the same release under another command id (the command
                    # sent twice): it answers this one too, if it came after it was sent
                    event.payload.get("version") == row.version
                    and event.payload.get("result") in ("installed", "rolled_back")
                    and target.sent_at is not None
                    and event.ts >= target.sent_at
                ):
                    continue
                result = str(event.payload.get("result"))
                state = {
                    "installed": TargetState.installed,
                    "refused": TargetState.refused,
                    "rolled_back": TargetState.rolled_back,
                }.get(result)
                if state is not None:
                    moved |= self._set(
                        target,
                        state,
                        event.ts,
                        str(event.payload.get("reason", "")),
                        str(event.payload.get("detail", "")),
                    )
        late = now - timedelta(seconds=row.wave_timeout_s)
        for t in targets:
            if (
                t.state in (TargetState.waiting.value, TargetState.sent.value)
                and row.wave_at < late
            ):
                moved |= self._set(
                    t, TargetState.timed_out, now, "no_answer" if t.sent_at else "offline"
                )
        return moved

    @staticmethod
    def _set(
        target: RolloutTarget, state: TargetState, at: datetime, reason: str = "", detail: str = ""
    ) -> bool:
        if not can_move(TargetState(target.state), state):
            return False
        target.state, target.done_at = state.value, at
        target.reason, target.detail = reason[:40], detail[:300]
        return True
