"""The public mobile and web API (``/api/v1``): declared here in full, served by the services.

Each route declares its input with the shared request models, so the one OpenAPI document is
complete and bad input is refused here with 422; the router verifies the bearer token (401
before any upstream call). The route then forwards the request to the service that owns it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fieldcrew_shared.api_models import (
    AddNoteRequest,
    IssueWorkOrderRequest,
    NoteOut,
    PhotoOut,
    ReportOut,
    SubmitReportRequest,
    WorkOrderOut,
)
from fieldcrew_shared.events import Phase
from fieldcrew_shared.web import current_principal
from pydantic import BaseModel

from fieldcrew_gateway.config import Settings
from fieldcrew_gateway.proxy import API_PREFIX, Upstream, forward, upload_body


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    """Every error: ``{"error": {"code", "message"}}``."""

    error: ErrorDetail


class WorkOrderStatus(StrEnum):
    issued = "issued"
    report_submitted = "report_submitted"
    completed = "completed"


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _error("No bearer token, or one that does not verify"),
    403: _error("The caller may not do this"),
    404: _error("No such work order, note, report or photo"),
    422: _error("The request is not valid"),
    503: _error("A backing service is down; retry after `Retry-After` seconds"),
}
UPLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": PhotoOut, "description": "The caller had already uploaded these bytes"},
    413: _error("The photo is too large"),
    415: _error("Not an image, or not a multipart/form-data upload"),
}


def correlation_header(
    x_correlation_id: Annotated[
        str | None,
        Header(
            alias="X-Correlation-Id",
            description="Traces the request through the services; generated when absent",
        ),
    ] = None,
) -> None:
    """Documents ``X-Correlation-Id`` (the correlation middleware handles it)."""


def command_headers(
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", max_length=200, description="Makes a retry safe"),
    ] = None,
    x_occurred_at: Annotated[
        datetime | None,
        Header(
            alias="X-Occurred-At",
            description="When it happened on the device, if it was recorded offline",
        ),
    ] = None,
) -> None:
    """Declares (and checks) the headers a command may carry; they are forwarded as sent."""


router = APIRouter(
    prefix=API_PREFIX,
    tags=["work orders"],
    dependencies=[Depends(current_principal), Depends(correlation_header)],
    responses=ERROR_RESPONSES,
)
COMMAND = [Depends(command_headers)]
WorkOrderId = Annotated[UUID, Path(description="The work order's id")]
PhotoId = Annotated[UUID, Path(description="The photo's id")]

PHOTO_FORM: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "The image"},
                        "caption": {"type": "string", "maxLength": 500},
                        "phase": {"type": "string", "enum": [p.value for p in Phase]},
                    },
                }
            }
        },
    }
}


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.post("/work-orders", status_code=201, response_model=WorkOrderOut, dependencies=COMMAND)
async def issue_work_order(request: Request, body: IssueWorkOrderRequest) -> Response:
    """Issue a work order to a crew (dispatcher); 201 with its id and ``Location``."""
    return await forward(request, Upstream.dispatch, "/work-orders")


@router.get("/work-orders")
async def list_work_orders(
    request: Request,
    status: WorkOrderStatus | None = None,
    limit: Annotated[int | None, Query(ge=1, le=500)] = None,
    offset: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    """Work orders with their progress: all for the office, a technician's own otherwise."""
    return await forward(request, Upstream.aggregator, "/work-orders")


@router.get("/work-orders/{work_order_id}")
async def get_work_order(request: Request, work_order_id: WorkOrderId) -> Response:
    """Status, crew, counts of notes and photos, and what is still missing."""
    return await forward(request, Upstream.aggregator, f"/work-orders/{work_order_id}")


@router.post(
    "/work-orders/{work_order_id}/notes",
    status_code=201,
    response_model=NoteOut,
    dependencies=COMMAND,
)
async def add_note(request: Request, work_order_id: WorkOrderId, body: AddNoteRequest) -> Response:
    """Record the caller's own repair note (any crew member, the leader too)."""
    return await forward(request, Upstream.team, f"/work-orders/{work_order_id}/notes")


@router.get("/work-orders/{work_order_id}/notes", response_model=list[NoteOut])
async def list_notes(request: Request, work_order_id: WorkOrderId) -> Response:
    """The notes: all of them for the leader, a member's own for a member."""
    return await forward(request, Upstream.team, f"/work-orders/{work_order_id}/notes")


@router.post(
    "/work-orders/{work_order_id}/report",
    status_code=201,
    response_model=ReportOut,
    dependencies=COMMAND,
    responses={409: _error("The report was already submitted")},
)
async def submit_report(
    request: Request, work_order_id: WorkOrderId, body: SubmitReportRequest
) -> Response:
    """Merge the notes into the one complete repair report (the leader only)."""
    return await forward(request, Upstream.team, f"/work-orders/{work_order_id}/report")


@router.get("/work-orders/{work_order_id}/report", response_model=ReportOut)
async def get_report(request: Request, work_order_id: WorkOrderId) -> Response:
    """The leader's submitted report."""
    return await forward(request, Upstream.team, f"/work-orders/{work_order_id}/report")


@router.post(
    "/work-orders/{work_order_id}/photos",
    status_code=201,
    response_model=PhotoOut,
    dependencies=COMMAND,
    responses=UPLOAD_RESPONSES,
    openapi_extra=PHOTO_FORM,
)
async def upload_photo(
    request: Request,
    work_order_id: WorkOrderId,
    settings: Annotated[Settings, Depends(settings_of)],
) -> Response:
    """Upload one of the caller's own photos (any crew member), streamed to the photos
    service; 201 with its id, sha256 and whether it was a duplicate."""
    content = upload_body(request, settings.max_upload_bytes)
    return await forward(
        request, Upstream.photos, f"/work-orders/{work_order_id}/photos", content=content
    )


@router.get("/work-orders/{work_order_id}/photos", response_model=list[PhotoOut])
async def list_photos(request: Request, work_order_id: WorkOrderId) -> Response:
    """Photo metadata with short-lived URLs."""
    return await forward(request, Upstream.photos, f"/work-orders/{work_order_id}/photos")


@router.get("/work-orders/{work_order_id}/photos/{photo_id}", response_model=PhotoOut)
async def get_photo(request: Request, work_order_id: WorkOrderId, photo_id: PhotoId) -> Response:
    """One photo's metadata, with a short-lived URL."""
    path = f"/work-orders/{work_order_id}/photos/{photo_id}"
    return await forward(request, Upstream.photos, path)


@router.get("/work-orders/{work_order_id}/server-report")
async def get_server_report(
    request: Request,
    work_order_id: WorkOrderId,
    revision: Annotated[int | None, Query(ge=1, description="Default: the newest")] = None,
) -> Response:
    """The final server report and its revision number; 404 until it is compiled."""
    return await forward(
        request, Upstream.aggregator, f"/work-orders/{work_order_id}/server-report"
    )
