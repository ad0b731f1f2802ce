"""The public mobile and web API (``/api/v1``): declared in the gateway in full, served by the
services. Here: work orders, their lifecycle, notes, the leader's report, offline sync and the
event streams; photos (:mod:`.photos`), the server report (:mod:`.server_report`), documents
(:mod:`.documents`) and webhooks (:mod:`.webhooks`) in their own modules.

Each route declares its input with the shared request models, so the one OpenAPI document is
complete and bad input is refused here with 422; the router verifies the bearer token (401
before any upstream call). The route then forwards the request to the service that owns it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Query, Request, Response
from fieldcrew_shared.api_lifecycle import (
    CancelRequest,
    ChangeCrewRequest,
    RejectReportRequest,
    ReportVersionOut,
    StartRequest,
    SyncRequest,
    SyncResponse,
    WorkOrderProgress,
    WorkOrderView,
)
from fieldcrew_shared.api_models import (
    MAX_QUERY_INT,
    AddNoteRequest,
    IssueWorkOrderRequest,
    NoteOut,
    SubmitReportRequest,
    WorkOrderStatus,
)

from fieldcrew_gateway import openapi
from fieldcrew_gateway.deps import COMMAND, Newest, WorkOrderId, work_order_router
from fieldcrew_gateway.openapi import not_null
from fieldcrew_gateway.proxy import forward
from fieldcrew_gateway.streams import forward_stream
from fieldcrew_gateway.upstreams import Upstream

router = work_order_router()


@router.post(
    "/work-orders",
    status_code=201,
    response_model=WorkOrderView,
    dependencies=COMMAND,
    responses=openapi.COMMAND,
    response_description="The work order (also when it answers a retry)",
)
async def issue_work_order(request: Request, body: IssueWorkOrderRequest) -> Response:
    """Issue a work order to a crew (dispatcher); 201 with its id and ``Location``."""
    return await forward(request, Upstream.dispatch, "/work-orders")


LastEventId = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID",
        max_length=20,
        description="The last event `id` this client got: the stream goes on after it",
        json_schema_extra=not_null,
    ),
]
EVENT_STREAM: openapi.Responses = {
    200: {
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
        "description": "Server-Sent Events: `id` the stream sequence, `event` the event's name,"
        " `data` its JSON (`seq`, `type`, `work_order_id`, `actor`, `actor_role`, `recorded_at`,"
        " `occurred_at`, `data`, `redacted`); `: ping` heartbeats",
    }
}


@router.get(
    "/work-orders/{work_order_id}/events",
    response_class=Response,
    responses={**openapi.VIEW, **EVENT_STREAM},
)
async def work_order_events(
    request: Request, work_order_id: WorkOrderId, last_event_id: LastEventId = None
) -> Response:
    """The work order's events as they are recorded (its crew and the office), shaped for the
    caller: a member sees whole only what a member may read. From its beginning, or after
    `Last-Event-ID`; heartbeats keep the connection open."""
    return await forward_stream(request, Upstream.dispatch, f"/work-orders/{work_order_id}/events")


@router.get(
    "/events",
    response_class=Response,
    responses={403: openapi.error("Not an office role"), **EVENT_STREAM},
)
async def office_events(request: Request, last_event_id: LastEventId = None) -> Response:
    """Every work order's events as they are recorded (dispatcher, admin, analyst), from now
    on or after `Last-Event-ID`."""
    return await forward_stream(request, Upstream.dispatch, "/events")


@router.post(
    "/sync",
    response_model=SyncResponse,
    responses={
        **openapi.WITH_BODY,
        422: openapi.error(
            "The batch is not valid, or over 200 actions or 1 MiB (`sync_batch_too_large`)"
        ),
    },
)
async def sync(request: Request, body: SyncRequest) -> Response:
    """What the caller did offline (notes, reports, starts), carried out in order as the
    caller: one result each (`applied`, `duplicate` when this action id was carried out before,
    `rejected` with the code its own call would answer); one rejection does not stop the
    others. A note recorded before the report but synced after it is kept as a late note."""
    return await forward(request, Upstream.team, "/sync")


@router.get("/work-orders", response_model=list[WorkOrderProgress])
async def list_work_orders(
    request: Request,
    status: Annotated[WorkOrderStatus | None, Query(json_schema_extra=not_null)] = None,
    overdue: Annotated[
        bool | None,
        Query(
            description="`true`: only those past `due_at`, neither completed nor cancelled",
            json_schema_extra=not_null,
        ),
    ] = None,
    limit: Annotated[int | None, Query(ge=1, le=500, json_schema_extra=not_null)] = None,
    offset: Annotated[int | None, Query(ge=0, le=MAX_QUERY_INT, json_schema_extra=not_null)] = None,
) -> Response:
    """Work orders with their progress: all for the office, a technician's own otherwise."""
    return await forward(request, Upstream.aggregator, "/work-orders")


@router.get(
    "/work-orders/{work_order_id}", response_model=WorkOrderProgress, responses=openapi.VIEW
)
async def get_work_order(request: Request, work_order_id: WorkOrderId) -> Response:
    """Status and lifecycle, the current crew, counts of notes and photos, and what is still
    missing."""
    return await forward(request, Upstream.aggregator, f"/work-orders/{work_order_id}")


@router.post(
    "/work-orders/{work_order_id}/start",
    response_model=WorkOrderView,
    dependencies=COMMAND,
    responses=openapi.LIFECYCLE,
)
async def start_work(
    request: Request, work_order_id: WorkOrderId, body: StartRequest | None = None
) -> Response:
    """The leader starts the work: `in_progress`, `started_at` from `X-Occurred-At` when
    given; 409 `already_started`."""
    return await forward(request, Upstream.team, f"/work-orders/{work_order_id}/start")


@router.post(
    "/work-orders/{work_order_id}/cancel",
    response_model=WorkOrderView,
    dependencies=COMMAND,
    responses=openapi.LIFECYCLE,
)
async def cancel_work_order(
    request: Request, work_order_id: WorkOrderId, body: CancelRequest
) -> Response:
    """Cancel the work order (dispatcher, admin), saying why; afterwards notes, photos and
    reports get 409 `work_order_cancelled`; 409 `work_order_completed` once completed."""
    return await forward(request, Upstream.dispatch, f"/work-orders/{work_order_id}/cancel")


@router.put(
    "/work-orders/{work_order_id}/crew",
    response_model=WorkOrderView,
    dependencies=COMMAND,
    responses=openapi.LIFECYCLE,
)
async def change_crew(
    request: Request, work_order_id: WorkOrderId, body: ChangeCrewRequest
) -> Response:
    """Replace the crew (dispatcher, admin) while it works (issued, in progress, rework); 409
    `crew_change_not_allowed` once the report is in."""
    return await forward(request, Upstream.dispatch, f"/work-orders/{work_order_id}/crew")


@router.post(
    "/work-orders/{work_order_id}/report/reject",
    response_model=WorkOrderView,
    dependencies=COMMAND,
    responses=openapi.LIFECYCLE,
)
async def reject_report(
    request: Request, work_order_id: WorkOrderId, body: RejectReportRequest
) -> Response:
    """Send the leader's report back for rework (dispatcher, admin): `rework`, and the leader
    submits the next version; 409 `report_not_submitted` when none awaits review."""
    path = f"/work-orders/{work_order_id}/report/reject"
    return await forward(request, Upstream.dispatch, path)


@router.post(
    "/work-orders/{work_order_id}/notes",
    status_code=201,
    response_model=NoteOut,
    dependencies=COMMAND,
    responses=openapi.ON_WORK_ORDER,
)
async def add_note(request: Request, work_order_id: WorkOrderId, body: AddNoteRequest) -> Response:
    """Record the caller's own repair note (any crew member, the leader too)."""
    return await forward(request, Upstream.team, f"/work-orders/{work_order_id}/notes")


@router.get(
    "/work-orders/{work_order_id}/notes", response_model=list[NoteOut], responses=openapi.VIEW
)
async def list_notes(request: Request, work_order_id: WorkOrderId) -> Response:
    """The notes: all of them for the leader, a member's own for a member."""
    return await forward(request, Upstream.team, f"/work-orders/{work_order_id}/notes")


@router.post(
    "/work-orders/{work_order_id}/report",
    status_code=201,
    response_model=ReportVersionOut,
    dependencies=COMMAND,
    responses=openapi.ON_WORK_ORDER,
)
async def submit_report(
    request: Request, work_order_id: WorkOrderId, body: SubmitReportRequest
) -> Response:
    """Merge the notes into the one complete repair report (the leader only); after a
    rejection, the next version."""
    return await forward(request, Upstream.team, f"/work-orders/{work_order_id}/report")


@router.get(
    "/work-orders/{work_order_id}/report", response_model=ReportVersionOut, responses=openapi.VIEW
)
async def get_report(
    request: Request,
    work_order_id: WorkOrderId,
    version: Newest = None,
) -> Response:
    """The leader's submitted report: the newest version, or any earlier one."""
    return await forward(request, Upstream.team, f"/work-orders/{work_order_id}/report")
