"""The crew's rules: the leader starts the work, members add notes, only the current leader
submits the report (again after a rejection), and nothing is added to a cancelled work order.

Pure: ``fold(history) -> TeamState`` and ``decide_*(state, command) -> events``, run by the
command pipeline (``fieldcrew_shared.commands``), which also answers a client's retry. The
leader-only rule is the heart of the product: it is what removes duplicate submissions.

The crew is the work order's current crew (after any crew change): a member taken off it adds
nothing more, and what they added stays. The crew acts with a technician's token only: an
office token (dispatcher, admin, analyst) whose ``sub`` happens to be on the crew neither
writes nor reads notes. Notes are the crew's own: the leader reads them all, a member their
own, and the office receives them merged in the leader's report, not one by one.

A note recorded on a device before the report was submitted (``X-Occurred-At``, or an offline
action's time) but received after it is kept as a late note (``after_report``), not refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from fieldcrew_shared.access import crew_role
from fieldcrew_shared.errors import (
    ConflictError,
    ForbiddenError,
    InvalidCommandError,
    NotFoundError,
)
from fieldcrew_shared.events import (
    Event,
    LeaderReportSubmitted,
    MemberNoteAdded,
    Outcome,
    PartLine,
    Reading,
    WorkOrderStarted,
)
from fieldcrew_shared.lifecycle import Lifecycle, Status, fold_lifecycle
from fieldcrew_shared.records import Recorded

from fieldcrew_team.merge import line_parts, merge_parts, report_lines

CREW_ROLE = "technician"
"""The token role of anyone acting as a crew member."""


@dataclass(frozen=True)
class AddNote:
    work_order_id: UUID
    note_id: UUID
    author: str
    author_role: str
    findings: str
    actions: str
    parts: tuple[PartLine, ...]
    labour_minutes: int
    readings: tuple[Reading, ...] = ()
    occurred_at: datetime | None = None  # on the device, when it says


@dataclass(frozen=True)
class StartWork:
    work_order_id: UUID
    actor: str
    actor_role: str
    started_at: datetime | None  # on the device, when it says


@dataclass(frozen=True)
class SubmitReport:
    work_order_id: UUID
    report_id: UUID
    actor: str
    actor_role: str
    summary: str
    root_cause: str
    actions: str
    outcome: Outcome
    parts: tuple[PartLine, ...] | None  # None: merge the parts of the merged notes
    note_ids: tuple[UUID, ...] | None  # None: every note


SUBMITTED = frozenset({Status.report_submitted, Status.completed})


@dataclass(frozen=True)
class TeamState:
    """What the crew's rules need of a work order: its lifecycle (None before it was issued),
    its notes, and when the newest report was recorded."""

    lifecycle: Lifecycle | None = None
    notes: dict[UUID, MemberNoteAdded] = field(default_factory=dict)


def fold(history: Iterable[Recorded]) -> TeamState:
    """The team's view of a work order's history (any context's events, in log order)."""
    history = list(history)
    notes: dict[UUID, MemberNoteAdded] = {}
    for record in history:
        if isinstance(record.event, MemberNoteAdded):
            notes.setdefault(record.event.note_id, record.event)
    return TeamState(fold_lifecycle(history), notes)


def decide_start(state: TeamState, cmd: StartWork) -> list[Event]:
    """The leader starts the work, once, on an issued work order."""
    lc = _issued(state)
    if _crew_role(lc, cmd.actor, cmd.actor_role) != "leader":
        raise ForbiddenError("only the work order's leader may start the work")
    _not_cancelled(lc)
    if lc.status != Status.issued:
        raise ConflictError(
            f"the work has already started (the work order is {lc.status})",
            code="already_started",
        )
    return [
        WorkOrderStarted(
            work_order_id=cmd.work_order_id, started_by=cmd.actor, started_at=cmd.started_at
        )
    ]


def decide_add_note(state: TeamState, cmd: AddNote) -> list[Event]:
    """A crew member's note while the crew works (issued, in progress, rework); once the report
    is in, only a note recorded before it (a late note)."""
    lc = _issued(state)
    _crew_role(lc, cmd.author, cmd.author_role)
    _not_cancelled(lc)
    late = lc.status in SUBMITTED
    if late and not _before_report(lc, cmd.occurred_at):
        raise ConflictError(
            "the leader's report is already submitted; notes are closed",
            code="report_already_submitted",
        )
    return [
        MemberNoteAdded(
            work_order_id=cmd.work_order_id,
            note_id=cmd.note_id,
            author=cmd.author,
            findings=cmd.findings,
            actions=cmd.actions,
            parts=cmd.parts,
            labour_minutes=cmd.labour_minutes,
            after_report=late,
            readings=cmd.readings,
        )
    ]


def decide_submit_report(state: TeamState, cmd: SubmitReport) -> list[Event]:
    """The current leader's consolidated report: the first, or the next version after a
    rejection (409 while one awaits review or is completed)."""
    lc = _issued(state)
    if _crew_role(lc, cmd.actor, cmd.actor_role) != "leader":
        raise ForbiddenError("only the work order's leader may submit the report")
    _not_cancelled(lc)
    if lc.status in SUBMITTED:
        raise ConflictError(
            "the report for this work order is already submitted",
            code="report_already_submitted",
        )
    notes = _merged_notes(state, cmd.note_ids)
    return [
        LeaderReportSubmitted(
            work_order_id=cmd.work_order_id,
            report_id=cmd.report_id,
            leader=cmd.actor,
            summary=cmd.summary,
            root_cause=cmd.root_cause,
            actions=cmd.actions,
            parts=merge_parts(cmd.parts) if cmd.parts is not None else line_parts(notes),
            outcome=cmd.outcome,
            merged_note_ids=tuple(n.note_id for n in notes),
            labour_minutes=sum(n.labour_minutes for n in notes),
            report_version=lc.report_version + 1,
            lines=report_lines(notes),
        )
    ]


def visible_notes(state: TeamState, user: str, token_role: str) -> list[MemberNoteAdded]:
    """The notes ``user`` may read: the leader every note, a member their own; NotFoundError
    for an unknown work order, ForbiddenError for anyone else (the office included)."""
    notes = list(state.notes.values())
    if _crew_role(_issued(state), user, token_role) == "leader":
        return notes
    return [n for n in notes if n.author == user]


def _issued(state: TeamState) -> Lifecycle:
    if state.lifecycle is None:
        raise NotFoundError("no such work order")
    return state.lifecycle


def _not_cancelled(lc: Lifecycle) -> None:
    if lc.status == Status.cancelled:
        raise ConflictError("the work order is cancelled", code="work_order_cancelled")


def _before_report(lc: Lifecycle, occurred_at: datetime | None) -> bool:
    """Whether something recorded on a device at ``occurred_at`` happened before the newest
    report reached the server."""
    return occurred_at is not None and occurred_at < lc.reports[-1].envelope.recorded_at


def _crew_role(lc: Lifecycle, user: str, token_role: str) -> str:
    """``leader`` or ``member``: ``user`` must act on the current crew with a technician's
    token."""
    role = crew_role(lc.crew, user)
    if role is None:
        raise ForbiddenError("you are not on this work order's crew")
    if token_role != CREW_ROLE:
        raise ForbiddenError(f"the crew acts with a {CREW_ROLE} token, not {token_role}")
    return role


def _merged_notes(state: TeamState, note_ids: tuple[UUID, ...] | None) -> list[MemberNoteAdded]:
    if note_ids is None:
        return list(state.notes.values())
    unknown = [str(i) for i in note_ids if i not in state.notes]
    if unknown:
        raise InvalidCommandError(f"unknown note ids: {', '.join(unknown)}")
    return [state.notes[i] for i in dict.fromkeys(note_ids)]
