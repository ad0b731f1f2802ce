"""Dispatch's command and query handlers: each command through the one pipeline
(``fieldcrew_shared.commands``) with dispatch's fold and decisions."""

from __future__ import annotations

import uuid

from fieldcrew_shared.commands import CommandPipeline, EventLog, Executed
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.events import WorkOrderIssued
from fieldcrew_shared.records import Recorded

from fieldcrew_dispatch.domain import IssueWorkOrder, decide_issue, fold, issued_work_order

IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c7d4e-0b7a-4f43-9a35-0c2d2a5d8b11")
PIPELINE = CommandPipeline(fold)


def work_order_id_for(actor: str, idempotency_key: str | None) -> uuid.UUID:
    """A retry with the same Idempotency-Key names the same work order."""
    if idempotency_key is None:
        return uuid.uuid4()
    return uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{actor}\n{idempotency_key}")


async def issue_work_order(
    log: EventLog, cmd: IssueWorkOrder, meta: Metadata
) -> Executed[Recorded | None]:
    """Issue once; a retry of the same command finds the first one (the command's id is the
    work order's)."""
    return await PIPELINE.run(
        log, cmd.work_order_id, cmd.work_order_id, lambda s: decide_issue(s, cmd), meta
    )


async def get_work_order(log: EventLog, work_order_id: uuid.UUID) -> Recorded:
    """The record of the work order's issue; NotFoundError when it was never issued."""
    issued, _ = await PIPELINE.view(log, work_order_id)
    return issued_work_order(issued)


def as_issued(record: Recorded) -> WorkOrderIssued:
    assert isinstance(record.event, WorkOrderIssued)
    return record.event
