"""Changing the stored schedules: applied at once by approvers and admins, proposed by
broadcasters (kept as a schedule change until an approver decides). Every change is checked
against the whole set first; any problem and nothing changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from protocol.messages import utcnow

from ..auth import Principal, skips_approval
from ..db.models import ScheduleChange
from ..domain.errors import Conflict, DomainError, Invalid, NotAllowed, NotFound
from ..domain.schedule_change import ScheduleChangeState
from ..i18n import translate
from ..services.audit import AuditLog
from ..services.speech import SpeechPart, SpeechService
from .checks import Problem
from .model import ScheduleSet, ScheduleSpec, TextItem
from .store import ScheduleStore, SyncResult

KINDS = ("put", "delete", "replace")


@dataclass(frozen=True)
class ChangeOutcome:
    """What became of an edit: applied, proposed (``pending_change``), unchanged, or refused
    (``problems``)."""

    result: SyncResult
    applied: bool = False
    pending_change: int | None = None
    problems: list[Any] = field(default_factory=list)


class ChangeRecord(BaseModel):
    """A proposed schedule edit and its decision (what the API answers, what pages show)."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    kind: str
    name: str
    content: dict[str, Any]
    state: str
    created_by: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None

    @property
    def spec(self) -> ScheduleSpec | None:
        """The one schedule a ``put`` proposes."""
        return ScheduleSpec.model_validate(self.content) if self.kind == "put" else None


def _record(change: ScheduleChange) -> ChangeRecord:
    return ChangeRecord.model_validate(change)


def _part(item: TextItem) -> SpeechPart:
    return SpeechPart(language=item.language, text=item.text, voice=item.voice)


def _texts(wanted: ScheduleSet) -> list[tuple[ScheduleSpec, TextItem]]:
    return [
        (spec, item)
        for spec in wanted.schedules
        for item in spec.programme
        if isinstance(item, TextItem)
    ]


def _text_problem(spec: ScheduleSpec, exc: DomainError) -> Problem:
    return Problem(spec.name, "text_not_speakable", translate(exc.key, "en", **exc.params))


class ScheduleChanges:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: ScheduleStore,
        audit: AuditLog,
        plans_changed: Callable[[], None],
        speech: SpeechService | None = None,
    ):
        self._sessions = sessions
        self._store = store
        self._audit = audit
        self._plans_changed = plans_changed
        self._speech = speech

    def check(self, wanted: ScheduleSet) -> SyncResult:
        """What applying ``wanted`` would change, and every problem (texts that cannot be
        spoken included); nothing is stored."""
        result = self._store.sync(wanted, dry_run=True)
        for spec, item in _texts(wanted):
            refusal = (
                self._speech.refusal(_part(item))
                if self._speech
                else DomainError("speech.engine_missing", engine="tts")
            )
            if refusal is not None:
                result.problems.append(_text_problem(spec, refusal))
        return result

    def _spoken(self, who: Principal, wanted: ScheduleSet) -> ScheduleSet | list[Problem]:
        """``wanted`` with every text item's ``media`` set to the bulletin that says it."""
        if not _texts(wanted):
            return wanted
        problems = self.check(wanted).problems
        if problems or self._speech is None:
            return problems
        specs = []
        for spec in wanted.schedules:
            items = []
            for item in spec.programme:
                if isinstance(item, TextItem):
                    try:
                        media = self._speech.spoken(who, _part(item), spec.title or spec.name)
                    except DomainError as exc:
                        return [_text_problem(spec, exc)]
                    item = item.model_copy(update={"media": media.sha256})
                items.append(item)
            specs.append(spec.model_copy(update={"programme": items}))
        return wanted.model_copy(update={"schedules": specs})

    def wanted(self, kind: str, name: str, content: dict[str, Any]) -> ScheduleSet:
        """The whole set an edit asks for, against the set stored now."""
        if kind == "replace":
            return ScheduleSet.model_validate(content)
        current = self._store.current()
        others = [s for s in current.schedules if s.name != name]
        if kind == "delete":
            if len(others) == len(current.schedules):
                raise NotFound("schedule.not_found", name=name)
            return current.model_copy(update={"schedules": others})
        return current.model_copy(
            update={"schedules": [*others, ScheduleSpec.model_validate(content)]}
        )

    def _apply(self, who: Principal, wanted: ScheduleSet) -> ChangeOutcome:
        spoken = self._spoken(who, wanted)
        if isinstance(spoken, list):
            return ChangeOutcome(SyncResult(problems=spoken), problems=spoken)
        result = self._store.sync(spoken)
        if result.problems:
            return ChangeOutcome(result, problems=result.problems)
        applied = not result.unchanged
        if applied:
            self._plans_changed()
        return ChangeOutcome(result, applied=applied)

    def change(
        self, who: Principal, kind: str, name: str, content: dict[str, Any]
    ) -> ChangeOutcome:
        """Apply an edit now (approvers, admins) or check it and store it for an approver
        (broadcasters). ``kind``: ``put`` one schedule, ``delete`` one, ``replace`` the set."""
        wanted = self.wanted(kind, name, content)
        if skips_approval(who.roles):
            outcome = self._apply(who, wanted)
            self._audit.record(
                who, f"schedule.{kind}", name or "*", "failed" if outcome.problems else "ok"
            )
            return outcome
        check = self.check(wanted)
        if check.problems:
            return ChangeOutcome(check, problems=check.problems)
        with self._sessions.begin() as session:
            proposal = ScheduleChange(
                kind=kind,
                name=name,
                content=content,
                state=ScheduleChangeState.pending,
                created_by=who.username,
                created_at=utcnow(),
            )
            session.add(proposal)
            session.flush()
            change_id = proposal.id
        self._audit.record(who, f"schedule.{kind}.propose", name or "*", change=change_id)
        return ChangeOutcome(check, pending_change=change_id)

    def list(
        self, state: str | None = None, limit: int = 500, decided: bool = False
    ) -> list[ChangeRecord]:
        """Newest first; ``state="pending"`` is the approver's queue (oldest first then);
        ``decided`` gives the last decided ones."""
        query = select(ScheduleChange)
        if decided:
            query = query.where(ScheduleChange.state != ScheduleChangeState.pending)
        elif state:
            query = query.where(ScheduleChange.state == state)
        order = (
            ScheduleChange.id if state == ScheduleChangeState.pending else ScheduleChange.id.desc()
        )
        with self._sessions() as session:
            return [_record(c) for c in session.scalars(query.order_by(order).limit(limit))]

    def _pending(self, change_id: int) -> ChangeRecord:
        with self._sessions() as session:
            change = session.get(ScheduleChange, change_id)
            if change is None:
                raise NotFound("schedule_change.not_found", id=change_id)
            if change.state != ScheduleChangeState.pending:
                raise Conflict("schedule_change.decided", state=change.state)
            return _record(change)

    def approve(self, who: Principal, change_id: int) -> ChangeOutcome:
        """Apply a proposed edit, checked again against the set as it is now."""
        proposed = self._pending(change_id)
        if proposed.created_by == who.username:
            raise NotAllowed("approval.same_person")
        outcome = self._apply(who, self.wanted(proposed.kind, proposed.name, proposed.content))
        if outcome.problems:
            self._audit.record(who, "schedule.approve", str(change_id), "failed")
            return outcome
        self._decide(change_id, ScheduleChangeState.approved, who.username, None)
        self._audit.record(
            who, "schedule.approve", str(change_id), kind=proposed.kind, name=proposed.name
        )
        return outcome

    def reject(self, who: Principal, change_id: int, reason: str) -> ChangeRecord:
        if not reason.strip():
            raise Invalid("approvals.reason_required")
        self._pending(change_id)
        out = self._decide(change_id, ScheduleChangeState.rejected, who.username, reason)
        self._audit.record(who, "schedule.reject", str(change_id), reason=reason)
        return out

    def _decide(
        self, change_id: int, state: ScheduleChangeState, by: str, reason: str | None
    ) -> ChangeRecord:
        with self._sessions.begin() as session:
            change = session.get(ScheduleChange, change_id)
            assert change is not None
            change.state, change.decided_by, change.decided_at = state, by, utcnow()
            change.reason = reason
            session.flush()
            return _record(change)
