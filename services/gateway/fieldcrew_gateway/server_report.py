"""The public server report routes, served by the aggregator: a work order's compiled report
(now, or as it stood at a moment), its revisions and its timeline."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response
from fieldcrew_shared.api_lifecycle import ServerReportView
from fieldcrew_shared.api_models import RevisionOut, TimelineEntryOut

from fieldcrew_gateway import openapi
from fieldcrew_gateway.deps import Newest, WorkOrderId, work_order_router
from fieldcrew_gateway.openapi import not_null
from fieldcrew_gateway.proxy import forward
from fieldcrew_gateway.upstreams import Upstream

router = work_order_router()
AS_OF_PATTERN = (
    r"^([0-9]{1,19}|[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2}))$"
)


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
    revision: Newest = None,
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
