"""Dispatch's HTTP API: issue and read work orders."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Response
from fieldcrew_shared.access import require_view
from fieldcrew_shared.api_models import IssueWorkOrderRequest, WorkOrderOut
from fieldcrew_shared.records import Recorded
from fieldcrew_shared.service import Log
from fieldcrew_shared.web import CurrentPrincipal, RequestMetadata

from fieldcrew_dispatch import handlers
from fieldcrew_dispatch.domain import IssueWorkOrder

router = APIRouter(prefix="/work-orders", tags=["work orders"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


def work_order_out(record: Recorded) -> WorkOrderOut:
    wo = handlers.as_issued(record)
    return WorkOrderOut(
        id=wo.work_order_id,
        title=wo.title,
        description=wo.description,
        site=wo.site,
        asset=wo.asset,
        customer=wo.customer,
        priority=wo.priority,
        due_at=wo.due_at,
        crew={"leader": wo.crew.leader, "members": list(wo.crew.members)},
        min_photos_per_member=wo.min_photos_per_member,
        issued_by=wo.issued_by,
        issued_at=record.envelope.recorded_at,
    )


@router.post("", status_code=201, response_model=WorkOrderOut)
async def issue_work_order(
    body: IssueWorkOrderRequest,
    log: Log,
    response: Response,
    principal: CurrentPrincipal,
    meta: RequestMetadata,
    idempotency_key: IdempotencyKey = None,
) -> WorkOrderOut:
    """Issue a work order to a crew. A retry with the same ``Idempotency-Key`` returns the
    first response and writes nothing."""
    cmd = IssueWorkOrder(
        work_order_id=handlers.work_order_id_for(principal.sub, idempotency_key),
        title=body.title,
        description=body.description,
        site=body.structured_site(),
        asset=body.structured_asset(),
        customer=body.structured_customer(),
        priority=body.priority,
        due_at=body.due_at,
        leader=body.crew.leader,
        members=tuple(body.crew.members),
        min_photos_per_member=body.min_photos_per_member,
        actor=principal.sub,
        actor_role=principal.role.value,
    )
    issued = await handlers.issue_work_order(log, cmd, meta)
    if issued.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/api/v1/work-orders/{cmd.work_order_id}"
    return work_order_out(issued.recorded[0])


@router.get("/{work_order_id}", response_model=WorkOrderOut)
async def get_work_order(
    work_order_id: UUID, log: Log, principal: CurrentPrincipal
) -> WorkOrderOut:
    """The work order as issued (status and progress come from the aggregator)."""
    record = await handlers.get_work_order(log, work_order_id)
    require_view(handlers.as_issued(record).crew, principal)
    return work_order_out(record)
