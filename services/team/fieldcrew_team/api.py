"""Team's HTTP API: the leader starts the work, members' notes, the leader's report (each
version readable)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fieldcrew_shared.access import DISPATCH_ROLES, require_view
from fieldcrew_shared.api_lifecycle import (
    MAX_SYNC_BYTES,
    ReportVersionOut,
    StartRequest,
    SyncRequest,
    SyncResponse,
    WorkOrderView,
    work_order_view,
)
from fieldcrew_shared.api_models import (
    MAX_QUERY_INT,
    AddNoteRequest,
    NoteOut,
    SubmitReportRequest,
)
from fieldcrew_shared.commands import command_id
from fieldcrew_shared.errors import InvalidCommandError, NotFoundError
from fieldcrew_shared.records import Recorded
from fieldcrew_shared.service import Log
from fieldcrew_shared.web import CurrentPrincipal, RequestMetadata
from pydantic import ValidationError

from fieldcrew_team import handlers, views
from fieldcrew_team.domain import StartWork, SubmitReport, visible_notes
from fieldcrew_team.sync import add_note_command, parts_of, sync

router = APIRouter(prefix="/work-orders/{work_order_id}", tags=["crew"])
sync_router = APIRouter(tags=["crew"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


def _answer(done: handlers.Done, response: Response) -> Recorded:
    """The command's event; ``Idempotent-Replayed`` when a retry found it."""
    if done.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return done.recorded[0]


@router.post("/start", response_model=WorkOrderView)
async def start_work(
    work_order_id: UUID,
    log: Log,
    response: Response,
    principal: CurrentPrincipal,
    meta: RequestMetadata,
    body: StartRequest | None = None,
    idempotency_key: IdempotencyKey = None,
) -> WorkOrderView:
    """The leader starts the work (``X-Occurred-At``: when, on the device); 409 once started."""
    cmd = StartWork(work_order_id, principal.sub, principal.role.value, meta.occurred_at)
    command = command_id(work_order_id, principal.sub, "start", idempotency_key)
    done = await handlers.start(log, cmd, command, meta)
    if done.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    assert done.state.lifecycle is not None
    return work_order_view(done.state.lifecycle, datetime.now(UTC))


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
    cmd = add_note_command(body, work_order_id, principal, idempotency_key, meta.occurred_at)
    record = _answer(await handlers.add_note(log, cmd, meta), response)
    return views.note_out(record)


@router.get("/notes", response_model=list[NoteOut])
async def list_notes(work_order_id: UUID, log: Log, principal: CurrentPrincipal) -> list[NoteOut]:
    """The leader sees every note, a member their own; nobody off the crew (the office reads
    them merged in the leader's report). Late notes say ``after_report``."""
    state, loaded = await handlers.load(log, work_order_id)
    shown = {n.note_id for n in visible_notes(state, principal.sub, principal.role.value)}
    return [views.note_out(r) for note, r in views.notes(loaded.records) if note.note_id in shown]


@router.post("/report", status_code=201, response_model=ReportVersionOut)
async def submit_report(
    work_order_id: UUID,
    body: SubmitReportRequest,
    log: Log,
    response: Response,
    principal: CurrentPrincipal,
    meta: RequestMetadata,
    idempotency_key: IdempotencyKey = None,
) -> ReportVersionOut:
    """Only the leader merges the notes into one report and submits it; 409 while one awaits
    review, version 2 after a rejection."""
    cmd = SubmitReport(
        work_order_id=work_order_id,
        report_id=command_id(work_order_id, principal.sub, "report", idempotency_key),
        actor=principal.sub,
        actor_role=principal.role.value,
        summary=body.summary,
        root_cause=body.root_cause,
        actions=body.actions,
        outcome=body.outcome,
        parts=parts_of(body.parts) if body.parts is not None else None,
        note_ids=tuple(body.note_ids) if body.note_ids is not None else None,
    )
    done = await handlers.submit_report(log, cmd, meta)
    return views.report_out(_answer(done, response), done.history)


@router.get("/report", response_model=ReportVersionOut)
async def get_report(
    work_order_id: UUID,
    log: Log,
    principal: CurrentPrincipal,
    version: Annotated[int | None, Query(ge=1, le=MAX_QUERY_INT)] = None,
) -> ReportVersionOut:
    """The leader's report (the newest version, or ``version``), for its crew and the
    dispatcher; 404 before it is submitted."""
    state, loaded = await handlers.load(log, work_order_id)
    if state.lifecycle is None:
        raise NotFoundError("no such work order")
    require_view(state.lifecycle.crew, principal, office=DISPATCH_ROLES)
    reports = state.lifecycle.reports
    if not reports:
        raise NotFoundError("the leader has not submitted the report yet")
    if version is not None and version > len(reports):
        raise NotFoundError(f"there is no version {version} of the report")
    return views.report_out(reports[(version or len(reports)) - 1], loaded.records)


@sync_router.post("/sync", response_model=SyncResponse)
async def sync_actions(
    request: Request, log: Log, principal: CurrentPrincipal, meta: RequestMetadata
) -> SyncResponse:
    """What the caller did offline: notes, reports and starts, carried out in order as the
    caller, one result each; the batch again applies nothing twice."""
    raw = await _sync_body(request)
    try:
        batch = SyncRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc
    results = await sync(log, batch.actions, principal, meta.correlationid)
    return SyncResponse(results=results)


async def _sync_body(request: Request) -> bytes:
    """The body, refused (422 ``sync_batch_too_large``) as soon as it passes the limit."""
    declared = request.headers.get("content-length", "")
    body = b""
    if not (declared.isdigit() and int(declared) > MAX_SYNC_BYTES):
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_SYNC_BYTES:
                break
        else:
            return body
    raise InvalidCommandError(
        f"a sync batch holds at most {MAX_SYNC_BYTES} bytes", code="sync_batch_too_large"
    )
