"""Signed agent updates: a release installed beside the running one, switched to, and left
again on its own when it does not come online.

On the device (``releases_dir``, by default ``{data_dir}/releases``)::

    releases/0.1.0/              one virtualenv per release
    releases/0.2.0/
    releases/current -> 0.2.0    what the service starts (systemd ExecStart)
    releases/previous -> 0.1.0   the release before; its ``guard`` runs first (ExecStartPre)
    {data_dir}/update.json       the last update: trying, installed, refused or rolled back

An ``update`` command (signed: it names the wheel's sha256) is handled in the background:
download and check the wheel; make a virtualenv whose dependencies are hard links to the
running release's (no network, no space); install the wheel into it without dependencies; run
its ``check`` (its code imports and reads this device's config, state and plan) — a release
failing any of this is *refused* and nothing changes. Then, when no play is under way,
``current`` points at it and the agent restarts into it (``exec``: the same process, so
systemd sees one service). The new release confirms itself once the broker and a controller
both hear it; if that does not happen within ``confirm_s``, or its start fails, it points
``current`` back and restarts into the previous release, which reports the rollback. A release
that crashes before it can do that is left by the previous release's ``guard``, which systemd
runs before every start.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from protocol.messages import UpdateCommand, UpdateEvent, UpdateResult, utcnow

from .cache import MediaHashMismatch
from .fsutil import atomic_write, fsync_dir

log = logging.getLogger(__name__)

MAX_STARTS = 2
"""Starts of a release under trial the guard allows before it goes back (a crash loop)."""
QUIET_S = 60.0
"""A switch waits until no play is under way or due within this long."""
BUSY_GIVE_UP_S = 6 * 3600.0
CHECK_TIMEOUT_S = 180.0
INSTALL_TIMEOUT_S = 900.0


class UpdateState(str, enum.Enum):
    """Where the last update stands; ``trying`` is the only state that moves on its own."""

    trying = "trying"  # switched to, not yet confirmed
    installed = "installed"  # confirmed: online and checked
    refused = "refused"  # never switched to
    rolled_back = "rolled_back"  # switched to, then left

    @property
    def result(self) -> UpdateResult | None:
        return None if self is UpdateState.trying else UpdateResult(self.value)


TRANSITIONS: dict[UpdateState, frozenset[UpdateState]] = {
    UpdateState.trying: frozenset({UpdateState.installed, UpdateState.rolled_back}),
    UpdateState.installed: frozenset(),
    UpdateState.refused: frozenset(),
    UpdateState.rolled_back: frozenset(),
}


class UpdateRecord(msgspec.Struct, kw_only=True):
    """``update.json``: the one update this device remembers (the latest)."""

    cmd_id: str
    version: str
    from_version: str
    from_path: str = ""
    to_path: str = ""
    state: UpdateState
    deadline: datetime | None = None
    starts: int = 0
    reason: str = ""
    detail: str = ""
    reported: bool = False

    def move(self, state: UpdateState, reason: str = "", detail: str = "") -> None:
        if state not in TRANSITIONS[self.state]:
            raise ValueError(f"update {self.state.value} cannot become {state.value}")
        self.state, self.reason, self.detail = state, reason, detail[-300:]


class UpdateFailed(Exception):
    """A step of an update failed; ``reason`` is the stable code reported."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def read_record(path: Path) -> UpdateRecord | None:
    try:
        return msgspec.json.decode(path.read_bytes(), type=UpdateRecord)
    except FileNotFoundError:
        return None
    except (OSError, msgspec.ValidationError, msgspec.DecodeError):
        log.warning("%s unreadable: ignored", path)
        return None


def write_record(path: Path, record: UpdateRecord) -> None:
    atomic_write(path, msgspec.json.encode(record))


class Releases:
    """The release directories and the ``current`` / ``previous`` links."""

    def __init__(self, root: Path):
        self.root = root
        self.current = root / "current"
        self.previous = root / "previous"

    def running(self) -> Path | None:
        """The release this process runs from, or None when it was not started from this
        layout (a source checkout, an install from before updates existed)."""
        prefix = Path(sys.prefix).resolve()
        try:
            if prefix.parent == self.root.resolve() and self.current.resolve() == prefix:
                return prefix
        except OSError:
            pass
        return None

    def point(self, link: Path, target: Path) -> None:
        """Make ``link`` name ``target`` in one rename (a power cut leaves one or the other)."""
        tmp = link.with_name(f".{link.name}.new")
        tmp.unlink(missing_ok=True)
        os.symlink(target.name if target.parent == self.root else str(target), tmp)
        os.replace(tmp, link)
        fsync_dir(self.root)

    def install(self, wheel: Path, version: str, base: Path) -> Path:
        """A new virtualenv for ``version``: ``base``'s packages hard-linked in (the running
        release's dependencies), then the wheel on top without dependencies."""
        target = self.root / version
        if target.exists():  # a half install from an interrupted attempt
            shutil.rmtree(target)
        try:
            _run([sys.executable, "-m", "venv", "--without-pip", str(target)], "venv")
            link_tree(base, site_packages(target))
            _run(
                [
                    str(target / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--no-deps",
                    "--no-index",
                    "--disable-pip-version-check",
                    "-q",
                    str(wheel),
                ],
                "pip",
            )
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        return target

    def check(self, release: Path, config_path: Path) -> str:
        """Run the release's own ``check`` against this device's files; its version."""
        out = _run(
            [str(release / "bin" / "loalang-agent"), "check", "--config", str(config_path)],
            "check",
            timeout=CHECK_TIMEOUT_S,
        )
        try:
            return str(json.loads(out.strip().splitlines()[-1])["version"])
        except (ValueError, KeyError, IndexError, TypeError):
            raise UpdateFailed("check_failed", f"unexpected output: {out[-200:]}") from None

    def prune(self, keep: set[Path]) -> None:
        """Delete releases other than ``keep`` (the running one and the one before)."""
        kept = {p.resolve() for p in keep}
        for path in self.root.iterdir():
            if path.is_symlink() or not path.is_dir() or path.resolve() in kept:
                continue
            shutil.rmtree(path, ignore_errors=True)
            log.info("release %s removed", path.name)


def site_packages(prefix: Path) -> Path:
    return Path(sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)}))


def link_tree(source: Path, dest: Path) -> None:
    """Hard-link every file under ``source`` into ``dest`` (copied where links fail)."""
    for dirpath, dirnames, filenames in os.walk(source):
        rel = Path(dirpath).relative_to(source)
        (dest / rel).mkdir(parents=True, exist_ok=True)
        for name in filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
            src, dst = Path(dirpath) / name, dest / rel / name
            if src.is_symlink():
                os.symlink(os.readlink(src), dst)
                continue
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)


def _run(argv: list[str], step: str, timeout: float = INSTALL_TIMEOUT_S) -> str:
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise UpdateFailed(f"{step}_failed", f"no answer in {timeout:.0f} s") from None
    except OSError as exc:
        raise UpdateFailed(f"{step}_failed", str(exc)) from None
    if proc.returncode != 0:
        raise UpdateFailed(f"{step}_failed", (proc.stderr or proc.stdout).strip()[-300:])
    return proc.stdout


def guard(record_path: Path, releases: Releases, now: datetime | None = None) -> str | None:
    """Before every start of the service (ExecStartPre, from the previous release): count
    the starts of a release under trial and go back when it keeps failing or its time ran
    out. Returns the reason when it went back."""
    record = read_record(record_path)
    if record is None or record.state is not UpdateState.trying:
        return None
    record.starts += 1
    reason = None
    if record.starts > MAX_STARTS:
        reason = "crashed"
    elif record.deadline is not None and (now or utcnow()) > record.deadline:
        reason = "not_online"
    if reason is not None:
        releases.point(releases.current, Path(record.from_path))
        record.move(
            UpdateState.rolled_back,
            reason,
            f"{record.version} started {record.starts - 1} times without coming online",
        )
    write_record(record_path, record)
    return reason


Fetch = Callable[[str, str, int, Path, float], int]


class Updater:
    """The agent's side of updates: handles the command, confirms or leaves a new release,
    reports each outcome once (through the outbox)."""

    def __init__(
        self,
        data_dir: Path,
        releases: Releases,
        config_path: Path | None,
        version: str,
        fetch: Fetch,
        report: Callable[[Any], None],
        quiet: Callable[[float], bool],
        device_id: str,
    ):
        self.record_path = data_dir / "update.json"
        self.releases = releases
        self._config_path = config_path
        self.version = version
        self._fetch = fetch
        self._report = report
        self._quiet = quiet
        self._device_id = device_id
        self.restart: Callable[[], None] | None = None  # set by ``loalang-agent run``
        self._guard = threading.Lock()
        self._under_way = ""  # the version this process is installing, under the guard
        self._stop = threading.Event()

    # --- at start -----------------------------------------------------------------------

    def trial(self) -> UpdateRecord | None:
        """The update under trial in this very process, if any."""
        record = read_record(self.record_path)
        running = self.releases.running()
        if record is None or record.state is not UpdateState.trying or running is None:
            return None
        return record if Path(record.to_path).resolve() == running else None

    def started(self, online: Callable[[], bool]) -> None:
        """After the agent started: report an outcome not yet told, and confirm (or leave)
        a release under trial once it is online."""
        self.report_pending()
        self._remove_failed()
        record = self.trial()
        if record is not None:
            threading.Thread(
                target=self._confirm, args=(record, online), name="update-confirm", daemon=True
            ).start()

    def _remove_failed(self) -> None:
        """The release this device went back from is deleted (space on an SD card)."""
        record = read_record(self.record_path)
        running = self.releases.running()
        if record is None or record.state is not UpdateState.rolled_back or running is None:
            return
        failed = Path(record.to_path)
        keep = {running, self.releases.previous.resolve()}
        if record.to_path and failed.is_dir() and failed.resolve() not in keep:
            shutil.rmtree(failed, ignore_errors=True)
            log.info("release %s removed (rolled back from)", record.version)

    def give_up(self, reason: str, detail: str) -> bool:
        """The release under trial failed to start: go back. True when there is one."""
        record = self.trial()
        if record is None:
            return False
        self._roll_back(record, reason, detail)
        return True

    def report_pending(self) -> None:
        record = read_record(self.record_path)
        if record is None or record.reported or record.state.result is None:
            return
        self._report(self._event(record))
        record.reported = True
        write_record(self.record_path, record)
        log.info("update to %s: %s %s", record.version, record.state.value, record.reason)

    def _confirm(self, record: UpdateRecord, online: Callable[[], bool]) -> None:
        deadline = record.deadline or utcnow() + timedelta(minutes=3)
        while not self._stop.is_set():
            if online():
                record.move(UpdateState.installed)
                write_record(self.record_path, record)
                self.releases.point(self.releases.previous, Path(record.from_path))
                self.releases.prune({Path(record.to_path), Path(record.from_path)})
                self.report_pending()
                return
            if utcnow() > deadline:
                self._roll_back(
                    record,
                    "not_online",
                    f"{record.version} did not reach the broker and a controller in time",
                )
                return
            self._stop.wait(1.0)

    def _roll_back(self, record: UpdateRecord, reason: str, detail: str) -> None:
        log.error(
            "update to %s failed (%s: %s): back to %s",
            record.version,
            reason,
            detail,
            record.from_version,
        )
        self.releases.point(self.releases.current, Path(record.from_path))
        record.move(UpdateState.rolled_back, reason, detail)
        write_record(self.record_path, record)
        if self.restart is not None:
            self.restart()

    def close(self) -> None:
        self._stop.set()

    # --- the command ----------------------------------------------------------------------

    def handle(self, cmd: UpdateCommand, cmd_id: str) -> None:
        """An accepted update command: done in the background (downloads take minutes)."""
        threading.Thread(
            target=self._update, args=(cmd, cmd_id), name="update", daemon=True
        ).start()

    def _update(self, cmd: UpdateCommand, cmd_id: str) -> None:
        with self._guard:
            busy_with = self._under_way
            if not busy_with:
                self._under_way = cmd.version
        if busy_with == cmd.version:
            # the same release asked for again while it installs (a rollout's command sent
            # twice): its one outcome answers both, nothing to refuse
            log.info("update to %s already under way (%s)", cmd.version, cmd_id)
            return
        if busy_with:
            self._refused(cmd, cmd_id, "update_under_way", f"{busy_with} is being installed")
            return
        try:
            self._install(cmd, cmd_id)
        except UpdateFailed as exc:
            log.error("update to %s refused: %s", cmd.version, exc)
            self._refused(cmd, cmd_id, exc.reason, exc.detail)
        except Exception as exc:  # never fatal to the agent: reported
            log.exception("update to %s failed", cmd.version)
            self._refused(cmd, cmd_id, "install_failed", f"{type(exc).__name__}: {exc}")
        finally:
            with self._guard:
                self._under_way = ""

    def _install(self, cmd: UpdateCommand, cmd_id: str) -> None:
        running = self.releases.running()
        if cmd.version == self.version:
            self._tell(
                UpdateRecord(
                    cmd_id=cmd_id,
                    version=cmd.version,
                    from_version=self.version,
                    state=UpdateState.installed,
                    detail="already running",
                )
            )
            return
        if running is None or self.restart is None or self._config_path is None:
            raise UpdateFailed(
                "not_updatable",
                "this agent was not started from a release "
                f"under {self.releases.root} (reinstall with install.sh)",
            )
        log.info("update to %s: fetching %s (%d bytes)", cmd.version, cmd.url, cmd.size)
        downloads = self.releases.root / ".downloads"
        downloads.mkdir(parents=True, exist_ok=True)
        wheel = downloads / wheel_name(cmd)
        try:
            self._fetch(cmd.url, cmd.sha256, cmd.size, wheel, time.time() + 3600)
        except MediaHashMismatch as exc:
            raise UpdateFailed("hash_mismatch", str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - any failure of the fetch is reported
            raise UpdateFailed("download_failed", str(exc)) from None
        try:
            release = self.releases.install(wheel, cmd.version, site_packages(running))
        finally:
            shutil.rmtree(downloads, ignore_errors=True)
        log.info("update to %s: installed beside %s, checking it", cmd.version, self.version)
        try:
            found = self.releases.check(release, self._config_path)
            if found != cmd.version:
                raise UpdateFailed("version_mismatch", f"the wheel holds {found}")
        except UpdateFailed:
            shutil.rmtree(release, ignore_errors=True)
            raise
        self._wait_quiet()
        record = UpdateRecord(
            cmd_id=cmd_id,
            version=cmd.version,
            from_version=self.version,
            from_path=str(running),
            to_path=str(release),
            state=UpdateState.trying,
            deadline=utcnow() + timedelta(seconds=cmd.confirm_s),
        )
        write_record(self.record_path, record)
        self.releases.point(self.releases.previous, running)
        self.releases.point(self.releases.current, release)
        log.warning("switching to agent %s (from %s)", cmd.version, self.version)
        self.restart()

    def _wait_quiet(self) -> None:
        give_up = time.monotonic() + BUSY_GIVE_UP_S
        while not self._quiet(QUIET_S):
            if time.monotonic() > give_up:
                raise UpdateFailed("busy", "plays kept the device busy")
            self._stop.wait(5.0)

    def _refused(self, cmd: UpdateCommand, cmd_id: str, reason: str, detail: str) -> None:
        self._tell(
            UpdateRecord(
                cmd_id=cmd_id,
                version=cmd.version,
                from_version=self.version,
                state=UpdateState.refused,
                reason=reason,
                detail=detail[-300:],
            )
        )

    def _tell(self, record: UpdateRecord) -> None:
        """Record a final outcome of this process, then report it."""
        if self.trial() is not None:  # never overwrite a trial under way (confirmed later)
            self._report(self._event(record))
            return
        write_record(self.record_path, record)
        self.report_pending()

    def _event(self, record: UpdateRecord) -> UpdateEvent:
        """The report of a final outcome, sent by the release running now."""
        result = record.state.result
        assert result is not None, "a trial has no outcome yet"
        return UpdateEvent(
            event_id=uuid.uuid4().hex,
            device_id=self._device_id,
            ts=utcnow(),
            cmd_id=record.cmd_id,
            version=record.version,
            running=self.version,
            result=result,
            reason=record.reason,
            detail=record.detail,
        )


def wheel_name(cmd: UpdateCommand) -> str:
    """The wheel's file name, which pip reads (name, version, tags): the last part of its URL
    (the controller serves each release under its own name), else a pure-Python one."""
    name = cmd.url.rsplit("/", 1)[-1].split("?", 1)[0]
    if re.fullmatch(r"[A-Za-z0-9_.+]+-[A-Za-z0-9_.+!]+(-[A-Za-z0-9_.]+){2,3}\.whl", name):
        return name
    return f"loalang-{cmd.version.replace('-', '_')}-py3-none-any.whl"


def exec_current(releases: Releases, config_path: Path, verbose: bool) -> None:
    """Replace this process with the release ``current`` names (same PID for systemd)."""
    program = releases.current / "bin" / "loalang-agent"
    argv = [str(program), "run", "--config", str(config_path)] + (["-v"] if verbose else [])
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(str(program), argv)
