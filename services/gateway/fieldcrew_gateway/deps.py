"""What every public API route shares: the headers it documents and checks, and the path
parameters that name a work order and a photo."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Path, Query
from fieldcrew_shared.api_models import MAX_QUERY_INT
from fieldcrew_shared.web import current_principal

from fieldcrew_gateway import openapi
from fieldcrew_gateway.openapi import not_null
from fieldcrew_gateway.proxy import API_PREFIX


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


COMMAND = [Depends(command_headers)]
WorkOrderId = Annotated[UUID, Path(description="The work order's id")]
PhotoId = Annotated[UUID, Path(description="The photo's id")]
# a version or revision asked for in the query (?version=, ?revision=)
Newest = Annotated[
    int | None,
    Query(ge=1, le=MAX_QUERY_INT, description="Default: the newest", json_schema_extra=not_null),
]


def work_order_router() -> APIRouter:
    """A router of ``/api/v1`` routes tagged "work orders": the bearer token verified (401
    before any upstream call), ``X-Correlation-Id`` documented."""
    return APIRouter(
        prefix=API_PREFIX,
        tags=["work orders"],
        dependencies=[Depends(current_principal), Depends(correlation_header)],
        responses=openapi.EVERY_ROUTE,
    )
