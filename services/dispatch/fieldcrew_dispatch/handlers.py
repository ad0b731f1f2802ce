"""Dispatch's command and query handlers: each command through the one pipeline
(``fieldcrew_shared.commands``) with dispatch's fold and decisions."""

from __future__ import annotations

import uuid

from fieldcrew_shared.commands import CommandPipeline, EventLog, Executed
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.lifecycle import Lifecycle

from fieldcrew_dispatch.domain import (
    CancelWorkOrder,
    ChangeCrew,
    IssueWorkOrder,
    RejectReport,
    decide_cancel,
    decide_change_crew,
    decide_issue,
    decide_reject,
    fold,
    issued_work_order,
)

IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c7d4e-0b7a-4f43-9a35-0c2d2a5d8b11")
PIPELINE = CommandPipeline(fold)
Done = Executed[Lifecycle | None]


def work_order_id_for(actor: str, idempotency_key: str | None) -> uuid.UUID:
    """A retry with the same Idempotency-Key names the same work order."""
    if idempotency_key is None:
        return uuid.uuid4()
    return uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{actor}\n{idempotency_key}")


async def issue_work_order(log: EventLog, cmd: IssueWorkOrder, meta: Metadata) -> Done:
    """Issue once; a retry of the same command finds the first one (the command's id is the
    work order's)."""
    wo = cmd.work_order_id
    return await PIPELINE.run(log, wo, wo, lambda s: decide_issue(s, cmd), meta)


async def cancel(log: EventLog, cmd: CancelWorkOrder, command: uuid.UUID, meta: Metadata) -> Done:
    return await PIPELINE.run(
        log, cmd.work_order_id, command, lambda s: decide_cancel(s, cmd), meta
    )


async def change_crew(log: EventLog, cmd: ChangeCrew, command: uuid.UUID, meta: Metadata) -> Done:
    return await PIPELINE.run(
        log, cmd.work_order_id, command, lambda s: decide_change_crew(s, cmd), meta
    )


async def reject_report(
    log: EventLog, cmd: RejectReport, command: uuid.UUID, meta: Metadata
) -> Done:
    return await PIPELINE.run(
        log, cmd.work_order_id, command, lambda s: decide_reject(s, cmd), meta
    )


async def get_work_order(log: EventLog, work_order_id: uuid.UUID) -> Lifecycle:
    """The work order's lifecycle; NotFoundError when it was never issued."""
    lc, _ = await PIPELINE.view(log, work_order_id)
    return issued_work_order(lc)
