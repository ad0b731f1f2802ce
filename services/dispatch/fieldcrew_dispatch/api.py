"""Dispatch's HTTP API: issue and read work orders; cancel one, change its crew, send its
report back for rework."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Response
from fieldcrew_shared.access import require_view
from fieldcrew_shared.api_lifecycle import (
    CancelRequest,
    ChangeCrewRequest,
    RejectReportRequest,
    WorkOrderView,
    work_order_view,
)
from fieldcrew_shared.api_models import IssueWorkOrderRequest
from fieldcrew_shared.commands import command_id
from fieldcrew_shared.service import Log
from fieldcrew_shared.web import CurrentPrincipal, RequestMetadata

from fieldcrew_dispatch import handlers
from fieldcrew_dispatch.domain import CancelWorkOrder, ChangeCrew, IssueWorkOrder, RejectReport

router = APIRouter(prefix="/work-orders", tags=["work orders"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


def _answer(done: handlers.Done, response: Response) -> WorkOrderView:
    """The work order after the command; ``Idempotent-Replayed`` when a retry found it."""
    if done.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    assert done.state is not None
    return work_order_view(done.state, datetime.now(UTC))


@router.post("", status_code=201, response_model=WorkOrderView)
async def issue_work_order(
    body: IssueWorkOrderRequest,
    log: Log,
    response: Response,
    principal: CurrentPrincipal,
    meta: RequestMetadata,
    idempotency_key: IdempotencyKey = None,
) -> WorkOrderView:
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
    done = await handlers.issue_work_order(log, cmd, meta)
    response.headers["Location"] = f"/api/v1/work-orders/{cmd.work_order_id}"
    return _answer(done, response)


@router.get("/{work_order_id}", response_model=WorkOrderView)
async def get_work_order(
    work_order_id: UUID, log: Log, principal: CurrentPrincipal
) -> WorkOrderView:
    """The work order as issued, its current crew and its lifecycle (progress and the server
    report come from the aggregator)."""
    lc = await handlers.get_work_order(log, work_order_id)
    require_view(lc.crew, principal)
    return work_order_view(lc, datetime.now(UTC))


@router.post("/{work_order_id}/cancel", response_model=WorkOrderView)
async def cancel_work_order(
    work_order_id: UUID,
    body: CancelRequest,
    log: Log,
    response: Response,
    principal: CurrentPrincipal,
    meta: RequestMetadata,
    idempotency_key: IdempotencyKey = None,
) -> WorkOrderView:
    """Cancel the work order (dispatcher, admin), saying why; 409 once completed."""
    cmd = CancelWorkOrder(work_order_id, body.reason, principal.sub, principal.role.value)
    command = command_id(work_order_id, principal.sub, "cancel", idempotency_key)
    return _answer(await handlers.cancel(log, cmd, command, meta), response)


@router.put("/{work_order_id}/crew", response_model=WorkOrderView)
async def change_crew(
    work_order_id: UUID,
    body: ChangeCrewRequest,
    log: Log,
    response: Response,
    principal: CurrentPrincipal,
    meta: RequestMetadata,
    idempotency_key: IdempotencyKey = None,
) -> WorkOrderView:
    """Replace the crew (dispatcher, admin) while it works: issued, in progress or rework."""
    cmd = ChangeCrew(
        work_order_id, body.leader, tuple(body.members), principal.sub, principal.role.value
    )
    command = command_id(work_order_id, principal.sub, "crew", idempotency_key)
    return _answer(await handlers.change_crew(log, cmd, command, meta), response)


@router.post("/{work_order_id}/report/reject", response_model=WorkOrderView)
async def reject_report(
    work_order_id: UUID,
    body: RejectReportRequest,
    log: Log,
    response: Response,
    principal: CurrentPrincipal,
    meta: RequestMetadata,
    idempotency_key: IdempotencyKey = None,
) -> WorkOrderView:
    """Send the leader's report back for rework (dispatcher, admin), saying why."""
    cmd = RejectReport(work_order_id, body.reason, principal.sub, principal.role.value)
    command = command_id(work_order_id, principal.sub, "reject", idempotency_key)
    return _answer(await handlers.reject_report(log, cmd, command, meta), response)
