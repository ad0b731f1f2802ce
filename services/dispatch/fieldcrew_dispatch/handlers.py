"""Dispatch's command and query handlers: load from the log, decide, append."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.events import WorkOrderIssued, subject_for
from fieldcrew_shared.eventstore import EventStore, Recorded

from fieldcrew_dispatch.domain import IssueWorkOrder, decide_issue, issued_work_order

IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c7d4e-0b7a-4f43-9a35-0c2d2a5d8b11")


def work_order_id_for(actor: str, idempotency_key: str | None) -> uuid.UUID:
    """A retry with the same Idempotency-Key names the same work order."""
    if idempotency_key is None:
        return uuid.uuid4()
    return uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{actor}\n{idempotency_key}")


@dataclass(frozen=True)
class Issued:
    record: Recorded
    replayed: bool


async def issue_work_order(store: EventStore, cmd: IssueWorkOrder, meta: Metadata) -> Issued:
    """Issue once; a retry of the same command returns the first result."""
    aggregate = subject_for("dispatch", cmd.work_order_id)
    loaded = await store.load(aggregate)
    events = decide_issue(loaded.events, cmd)
    if not events:
        return Issued(record=loaded.records[0], replayed=True)
    appended = await store.append(
        events[0],
        meta,
        expected_version=loaded.version,
        aggregate=aggregate,
        event_id=cmd.work_order_id,
    )
    return Issued(Recorded(appended.seq, appended.envelope, events[0]), replayed=False)


async def get_work_order(store: EventStore, work_order_id: uuid.UUID) -> Recorded:
    loaded = await store.load(subject_for("dispatch", work_order_id))
    issued_work_order(loaded.events)
    return loaded.records[0]


def as_issued(record: Recorded) -> WorkOrderIssued:
    assert isinstance(record.event, WorkOrderIssued)
    return record.event
