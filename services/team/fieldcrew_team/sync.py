"""Offline sync: a batch of things a crew member did without signal, carried out in order as
that member, each through the same command as its own call, each with its own answer.

An action's id is its idempotency key (the same command id as ``Idempotency-Key`` would give),
so a batch sent again applies nothing twice: what was applied answers ``duplicate``. Its
``occurred_at`` is when it happened on the device: a note recorded before the leader's report
but synced after it is kept as a late note. One rejected action does not stop the others; a
backend that fails stops the batch (503), and sending it again finishes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from fieldcrew_shared.api_lifecycle import (
    MAX_SYNC_ACTIONS,
    StartRequest,
    SyncAction,
    SyncResult,
    SyncStatus,
)
from fieldcrew_shared.api_models import AddNoteRequest, PartIn, SubmitReportRequest
from fieldcrew_shared.auth import Principal
from fieldcrew_shared.commands import EventLog, command_id
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.errors import CommandRejectedError, InvalidCommandError
from fieldcrew_shared.events import PartLine, Reading
from pydantic import ValidationError

from fieldcrew_team import handlers
from fieldcrew_team.domain import AddNote, StartWork, SubmitReport


def parts_of(parts: list[PartIn]) -> tuple[PartLine, ...]:
    return tuple(PartLine(part_no=p.part_no, qty=p.qty) for p in parts)


def add_note_command(
    body: AddNoteRequest,
    work_order_id: UUID,
    who: Principal,
    key: str | None,
    occurred_at: datetime | None,
) -> AddNote:
    """The command of a note sent on its own (``key``: its ``Idempotency-Key``) or offline
    (``key``: the action's id)."""
    return AddNote(
        work_order_id=work_order_id,
        note_id=command_id(work_order_id, who.sub, "note", key),
        author=who.sub,
        author_role=who.role.value,
        findings=body.findings,
        actions=body.actions,
        parts=parts_of(body.parts),
        labour_minutes=body.labour_minutes,
        readings=tuple(Reading.model_validate(r.model_dump()) for r in body.readings),
        occurred_at=occurred_at,
    )


def check_size(actions: Sequence[object]) -> None:
    if len(actions) > MAX_SYNC_ACTIONS:
        raise InvalidCommandError(
            f"a sync batch holds at most {MAX_SYNC_ACTIONS} actions, not {len(actions)}",
            code="sync_batch_too_large",
        )


async def sync(
    log: EventLog, actions: Sequence[SyncAction], who: Principal, correlation_id: str
) -> list[SyncResult]:
    """Carry out ``actions`` in order as ``who``; one result each, in the same order."""
    check_size(actions)
    return [await _one(log, action, who, correlation_id) for action in actions]


async def _one(log: EventLog, action: SyncAction, who: Principal, correlation: str) -> SyncResult:
    meta = Metadata(
        actor=who.sub,
        actorrole=who.role.value,
        correlationid=correlation,
        causationid=str(action.id),
        occurred_at=action.occurred_at,
    )
    try:
        resource, replayed = await _carry_out(log, action, who, meta)
    except ValidationError as exc:
        return _rejected(action, "invalid_request", _why(exc))
    except CommandRejectedError as exc:
        return _rejected(action, exc.code, exc.message)
    status = SyncStatus.duplicate if replayed else SyncStatus.applied
    return SyncResult(id=action.id, status=status, code=None, message=None, resource_id=resource)


async def _carry_out(
    log: EventLog, action: SyncAction, who: Principal, meta: Metadata
) -> tuple[UUID, bool]:
    """The action as its command: the id of what it made, and whether it was a replay."""
    wo, key, role = action.work_order_id, str(action.id), who.role.value
    if action.type == "note":
        note = AddNoteRequest.model_validate(action.body)
        cmd = add_note_command(note, wo, who, key, action.occurred_at)
        return cmd.note_id, (await handlers.add_note(log, cmd, meta)).replayed
    if action.type == "report":
        report = SubmitReportRequest.model_validate(action.body)
        submit = SubmitReport(
            work_order_id=wo,
            report_id=command_id(wo, who.sub, "report", key),
            actor=who.sub,
            actor_role=role,
            summary=report.summary,
            root_cause=report.root_cause,
            actions=report.actions,
            outcome=report.outcome,
            parts=parts_of(report.parts) if report.parts is not None else None,
            note_ids=tuple(report.note_ids) if report.note_ids is not None else None,
        )
        return submit.report_id, (await handlers.submit_report(log, submit, meta)).replayed
    StartRequest.model_validate(action.body)
    start = StartWork(wo, who.sub, role, action.occurred_at)
    done = await handlers.start(log, start, command_id(wo, who.sub, "start", key), meta)
    return wo, done.replayed


def _rejected(action: SyncAction, code: str, message: str) -> SyncResult:
    return SyncResult(
        id=action.id, status=SyncStatus.rejected, code=code, message=message, resource_id=None
    )


def _why(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "body"
    return f"the {where} of this action is not valid: {first.get('msg', '')}"
