"""The crew's rules: members add notes; only the work order's leader submits the report.

Pure: ``fold(history) -> TeamState`` and ``decide_*(state, command) -> events``, run by the
command pipeline (``fieldcrew_shared.commands``), which also answers a client's retry. The
leader-only rule is the heart of the product: it is what removes duplicate submissions.

The crew acts with a technician's token only: an office token (dispatcher, admin, analyst)
whose ``sub`` happens to be on the crew neither writes nor reads notes. Notes are the crew's
own: the leader reads them all, a member their own, and the office receives them merged in
the leader's report, not one by one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
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
    WorkOrderIssued,
)
from fieldcrew_shared.records import Recorded

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


@dataclass(frozen=True)
class TeamState:
    """What the crew's rules need of a work order: the work order as issued, its notes (with
    when each was recorded) and the leader's report."""

    work_order: WorkOrderIssued | None = None
    notes: dict[UUID, MemberNoteAdded] = field(default_factory=dict)
    report: LeaderReportSubmitted | None = None


def fold(history: Iterable[Recorded]) -> TeamState:
    """The team's view of a work order's history (any context's events, in log order)."""
    state = TeamState()
    for record in history:
        state = evolve(state, record.event)
    return state


def evolve(state: TeamState, event: Event) -> TeamState:
    if isinstance(event, WorkOrderIssued) and state.work_order is None:
        return replace(state, work_order=event)
    if isinstance(event, MemberNoteAdded) and event.note_id not in state.notes:
        return replace(state, notes={**state.notes, event.note_id: event})
    if isinstance(event, LeaderReportSubmitted) and state.report is None:
        return replace(state, report=event)
    return state


def decide_add_note(state: TeamState, cmd: AddNote) -> list[Event]:
    """A crew member's note, while the report is not in."""
    _crew_role(state.work_order, cmd.author, cmd.author_role)
    if state.report is not None:
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
        )
    ]


def decide_submit_report(state: TeamState, cmd: SubmitReport) -> list[Event]:
    """The leader's consolidated report, once per work order (409 the second time)."""
    if _crew_role(state.work_order, cmd.actor, cmd.actor_role) != "leader":
        raise ForbiddenError("only the work order's leader may submit the report")
    if state.report is not None:
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
            parts=merge_parts(
                cmd.parts if cmd.parts is not None else [p for n in notes for p in n.parts]
            ),
            outcome=cmd.outcome,
            merged_note_ids=tuple(n.note_id for n in notes),
            labour_minutes=sum(n.labour_minutes for n in notes),
        )
    ]


def merge_parts(lines: Iterable[PartLine]) -> tuple[PartLine, ...]:
    """Sum quantities by part number, keeping the order parts first appear in."""
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.part_no] = totals.get(line.part_no, 0) + line.qty
    return tuple(PartLine(part_no=p, qty=q) for p, q in totals.items())


def visible_notes(state: TeamState, user: str, token_role: str) -> list[MemberNoteAdded]:
    """The notes ``user`` may read: the leader every note, a member their own; NotFoundError
    for an unknown work order, ForbiddenError for anyone else (the office included)."""
    notes = list(state.notes.values())
    if _crew_role(state.work_order, user, token_role) == "leader":
        return notes
    return [n for n in notes if n.author == user]


def _crew_role(work_order: WorkOrderIssued | None, user: str, token_role: str) -> str:
    """``leader`` or ``member``: the work order must exist, and ``user`` act on its crew with
    a technician's token."""
    if work_order is None:
        raise NotFoundError("no such work order")
    role = crew_role(work_order.crew, user)
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
