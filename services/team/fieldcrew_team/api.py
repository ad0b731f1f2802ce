"""Team's HTTP API: member notes and the leader's report."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Response
from fieldcrew_shared.access import DISPATCH_ROLES, require_view
from fieldcrew_shared.api_models import (
    AddNoteRequest,
    NoteOut,
    PartIn,
    ReportOut,
    SubmitReportRequest,
)
from fieldcrew_shared.commands import Executed, command_id
from fieldcrew_shared.errors import NotFoundError
from fieldcrew_shared.events import LeaderReportSubmitted, MemberNoteAdded, PartLine
from fieldcrew_shared.records import Recorded
from fieldcrew_shared.service import Log
from fieldcrew_shared.web import CurrentPrincipal, RequestMetadata

from fieldcrew_team import handlers
from fieldcrew_team.domain import AddNote, SubmitReport, TeamState, visible_notes

router = APIRouter(prefix="/work-orders/{work_order_id}", tags=["crew"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


def _parts(parts: list[PartIn]) -> tuple[PartLine, ...]:
    return tuple(PartLine(part_no=p.part_no, qty=p.qty) for p in parts)


def note_out(note: MemberNoteAdded, recorded_at: object) -> NoteOut:
    return NoteOut.model_validate(
        {**note.model_dump(), "id": note.note_id, "recorded_at": recorded_at}
    )


def report_out(report: LeaderReportSubmitted, recorded_at: object) -> ReportOut:
    return ReportOut.model_validate(
        {**report.model_dump(), "id": report.report_id, "recorded_at": recorded_at}
    )


def _answer(executed: Executed[TeamState], response: Response) -> Recorded:
    """The command's event; ``Idempotent-Replayed`` when a retry found it."""
    if executed.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return executed.recorded[0]


@router.post("/notes", status_code=201, response_model=NoteOut)
async def add_note(
    work_order_id: UUID,
    body: AddNoteRequest,
    log: Log,
    response: Response,
    principal: CurrentPrincipal,
    meta: RequestMetadata,
    idempotency_key: IdempotencyKey = None,
) -> NoteOut:
    """A crew member (the leader too) records their own repair note."""
    cmd = AddNote(
        work_order_id=work_order_id,
        note_id=command_id(work_order_id, principal.sub, "note", idempotency_key),
        author=principal.sub,
        author_role=principal.role.value,
        findings=body.findings,
        actions=body.actions,
        parts=_parts(body.parts),
        labour_minutes=body.labour_minutes,
    )
    record = _answer(await handlers.add_note(log, cmd, meta), response)
    assert isinstance(record.event, MemberNoteAdded)
    return note_out(record.event, record.envelope.recorded_at)


@router.get("/notes", response_model=list[NoteOut])
async def list_notes(work_order_id: UUID, log: Log, principal: CurrentPrincipal) -> list[NoteOut]:
    """The leader sees every note, a member their own; nobody off the crew (the office reads
    them merged in the leader's report)."""
    state, loaded = await handlers.load(log, work_order_id)
    shown = visible_notes(state, principal.sub, principal.role.value)
    recorded = {
        r.event.note_id: r.envelope.recorded_at
        for r in loaded.records
        if isinstance(r.event, MemberNoteAdded)
    }
    return [note_out(n, recorded[n.note_id]) for n in shown]


@router.post("/report", status_code=201, response_model=ReportOut)
async def submit_report(
    work_order_id: UUID,
    body: SubmitReportRequest,
    log: Log,
    response: Response,
    principal: CurrentPrincipal,
    meta: RequestMetadata,
    idempotency_key: IdempotencyKey = None,
) -> ReportOut:
    """Only the leader merges the notes into one report and submits it; 409 the second time."""
    cmd = SubmitReport(
        work_order_id=work_order_id,
        report_id=command_id(work_order_id, principal.sub, "report", idempotency_key),
        actor=principal.sub,
        actor_role=principal.role.value,
        summary=body.summary,
        root_cause=body.root_cause,
        actions=body.actions,
        outcome=body.outcome,
        parts=_parts(body.parts) if body.parts is not None else None,
        note_ids=tuple(body.note_ids) if body.note_ids is not None else None,
    )
    record = _answer(await handlers.submit_report(log, cmd, meta), response)
    assert isinstance(record.event, LeaderReportSubmitted)
    return report_out(record.event, record.envelope.recorded_at)


@router.get("/report", response_model=ReportOut)
async def get_report(work_order_id: UUID, log: Log, principal: CurrentPrincipal) -> ReportOut:
    """The leader's report, for its crew and the dispatcher; 404 until it is submitted."""
    state, loaded = await handlers.load(log, work_order_id)
    if state.work_order is None:
        raise NotFoundError("no such work order")
    require_view(state.work_order.crew, principal, office=DISPATCH_ROLES)
    for r in loaded.records:
        if isinstance(r.event, LeaderReportSubmitted):
            return report_out(r.event, r.envelope.recorded_at)
    raise NotFoundError("the leader has not submitted the report yet")
