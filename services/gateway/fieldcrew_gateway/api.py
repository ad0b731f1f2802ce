"""The public mobile and web API (``/api/v1``): declared here in full, served by the services.

Each route declares its input with the shared request models, so the one OpenAPI document is
complete and bad input is refused here with 422; the router verifies the bearer token (401
before any upstream call). The route then forwards the request to the service that owns it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fieldcrew_shared.api_lifecycle import (
    CancelRequest,
    ChangeCrewRequest,
    RejectReportRequest,
    ReportVersionOut,
    ServerReportView,
    StartRequest,
    SyncRequest,
    SyncResponse,
    WorkOrderProgress,
    WorkOrderView,
)
from fieldcrew_shared.api_models import (
    MAX_QUERY_INT,
    PHOTO_UPLOAD_FORM,
    AddNoteRequest,
    IssueWorkOrderRequest,
    NoteOut,
    PhotoOut,
    RevisionOut,
    SubmitReportRequest,
    TimelineEntryOut,
    WorkOrderStatus,
)
from fieldcrew_shared.web import current_principal

from fieldcrew_gateway import openapi
from fieldcrew_gateway.openapi import not_null
from fieldcrew_gateway.proxy import API_PREFIX, Upstream, forward, upload_body
from fieldcrew_gateway.streams import forward_stream


async def correlation_header(
    x_correlation_id: Annotated[
        str | None,
        Header(
            alias="X-Correlation-Id",
            description="Traces the request through the services; generated when absent",
            json_schema_extra=not_null,
        ),
    ] = None,
) -> None:
    """Documents ``X-Correlation-Id`` (the correlation middleware handles it)."""


async def command_headers(
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=200,
            description="Makes a retry safe",
            json_schema_extra=not_null,
        ),
    ] = None,
    x_occurred_at: Annotated[
        datetime | None,
        Header(
            alias="X-Occurred-At",
            description="When it happened on the device, if it was recorded offline",
            json_schema_extra=not_null,
        ),
    ] = None,
) -> None:
    """Declares (and checks) the headers a command may carry; they are forwarded as sent."""


router = APIRouter(
    prefix=API_PREFIX,
    tags=["work orders"],
    dependencies=[Depends(current_principal), Depends(correlation_header)],
    responses=openapi.EVERY_ROUTE,
)
COMMAND = [Depends(command_headers)]
AS_OF_PATTERN = (
    r"^([0-9]{1,19}|[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2}))$"
)
WorkOrderId = Annotated[UUID, Path(description="The work order's id")]
PhotoId = Annotated[UUID, Path(description="The photo's id")]


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
    version: Annotated[
        int | None,
        Query(
            ge=1, le=MAX_QUERY_INT, description="Default: the newest", json_schema_extra=not_null
        ),
    ] = None,
) -> Response:
    """The leader's submitted report: the newest version, or any earlier one."""
    return await forward(request, Upstream.team, f"/work-orders/{work_order_id}/report")


@router.post(
    "/work-orders/{work_order_id}/photos",
    status_code=201,
    response_model=PhotoOut,
    dependencies=COMMAND,
    responses=openapi.UPLOAD,
    openapi_extra=PHOTO_UPLOAD_FORM,
)
async def upload_photo(request: Request, work_order_id: WorkOrderId) -> Response:
    """Upload one of the caller's own photos (any crew member), streamed to the photos
    service; 201 with its id, sha256 and whether it was a duplicate."""
    content = upload_body(request)
    return await forward(
        request, Upstream.photos, f"/work-orders/{work_order_id}/photos", content=content
    )


@router.get(
    "/work-orders/{work_order_id}/photos", response_model=list[PhotoOut], responses=openapi.VIEW
)
async def list_photos(request: Request, work_order_id: WorkOrderId) -> Response:
    """Photo metadata with short-lived URLs."""
    return await forward(request, Upstream.photos, f"/work-orders/{work_order_id}/photos")


@router.get(
    "/work-orders/{work_order_id}/photos/{photo_id}",
    response_model=PhotoOut,
    responses=openapi.VIEW,
)
async def get_photo(request: Request, work_order_id: WorkOrderId, photo_id: PhotoId) -> Response:
    """One photo's metadata, with a short-lived URL."""
    path = f"/work-orders/{work_order_id}/photos/{photo_id}"
    return await forward(request, Upstream.photos, path)


@router.get(
    "/work-orders/{work_order_id}/server-report",
    response_model=ServerReportView,
    responses={
        **openapi.VIEW,
        404: openapi.error("No such work order, or its server report is not compiled yet"),
    },
)
async def get_server_report(
    request: Request,
    work_order_id: WorkOrderId,
    revision: Annotated[
        int | None,
        Query(
            ge=1, le=MAX_QUERY_INT, description="Default: the newest", json_schema_extra=not_null
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=AS_OF_PATTERN,
            description="The report as it stood at this moment: a stream sequence (the log up"
            " to it) or an RFC 3339 time with its offset; not with `revision`",
            examples=["2026-11-02T08:00:00Z", "1234"],
            json_schema_extra=not_null,
        ),
    ] = None,
) -> Response:
    """The final server report and its revision number; 404 until it is compiled (or, with
    `as_of`, if it was not compiled by then)."""
    return await forward(
        request, Upstream.aggregator, f"/work-orders/{work_order_id}/server-report"
    )


@router.get(
    "/work-orders/{work_order_id}/server-report/revisions",
    response_model=list[RevisionOut],
    responses=openapi.VIEW,
)
async def list_server_report_revisions(request: Request, work_order_id: WorkOrderId) -> Response:
    """Every revision of the server report (none before it is compiled), with its fingerprint
    and what changed since the one before."""
    path = f"/work-orders/{work_order_id}/server-report/revisions"
    return await forward(request, Upstream.aggregator, path)


@router.get(
    "/work-orders/{work_order_id}/timeline",
    response_model=list[TimelineEntryOut],
    responses=openapi.VIEW,
)
async def get_timeline(request: Request, work_order_id: WorkOrderId) -> Response:
    """Every event of the work order in the order recorded: who acted, when it was recorded
    and when it happened on the device (share-link activity for the office only)."""
    return await forward(request, Upstream.aggregator, f"/work-orders/{work_order_id}/timeline")
