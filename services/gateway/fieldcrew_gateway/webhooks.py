"""The public webhook API (``/api/v1/webhooks``): declared here, served by the aggregator,
whose webhook worker sends the events (docs/adr/0043). An admin's."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fieldcrew_shared.api_models import (
    MAX_QUERY_INT,
    DeliveryOut,
    RegisterWebhookRequest,
    WebhookOut,
)
from fieldcrew_shared.web import current_principal

from fieldcrew_gateway import openapi
from fieldcrew_gateway.deps import COMMAND, correlation_header
from fieldcrew_gateway.openapi import not_null
from fieldcrew_gateway.proxy import API_PREFIX, forward
from fieldcrew_gateway.upstreams import Upstream

router = APIRouter(
    prefix=f"{API_PREFIX}/webhooks",
    tags=["webhooks"],
    dependencies=[Depends(current_principal), Depends(correlation_header)],
    responses={**openapi.EVERY_ROUTE, 403: openapi.error("Only an admin manages webhooks")},
)
WebhookId = Annotated[UUID, Path(description="The webhook's id")]


@router.post(
    "",
    status_code=201,
    response_model=WebhookOut,
    dependencies=COMMAND,
    responses={
        **openapi.WITH_BODY,
        503: openapi.error(
            "A backing service is down, or webhooks are not configured (no webhook key)",
            openapi.RETRY_AFTER,
        ),
    },
    response_description="The webhook with its signing `secret`, shown this once",
)
async def register_webhook(request: Request, body: RegisterWebhookRequest) -> Response:
    """Register a URL to be sent, signed per Standard Webhooks, every event of
    ``event_types`` (CloudEvents types, or ``["*"]``) recorded from now on. In production the
    URL must lead to a public address (422 ``address_not_allowed``)."""
    return await forward(request, Upstream.aggregator, "/webhooks")


@router.get("", response_model=list[WebhookOut])
async def list_webhooks(request: Request) -> Response:
    """Every webhook, with its deliveries counted by status (no secrets)."""
    return await forward(request, Upstream.aggregator, "/webhooks")


@router.get(
    "/{webhook_id}/deliveries",
    response_model=list[DeliveryOut],
    responses={404: openapi.error("No such webhook")},
)
async def list_deliveries(
    request: Request,
    webhook_id: WebhookId,
    status: Annotated[
        Literal["pending", "delivered", "dead"] | None, Query(json_schema_extra=not_null)
    ] = None,
    limit: Annotated[int | None, Query(ge=1, le=500, json_schema_extra=not_null)] = None,
    offset: Annotated[int | None, Query(ge=0, le=MAX_QUERY_INT, json_schema_extra=not_null)] = None,
) -> Response:
    """The events owed to the webhook in log order, each with every attempt: when, how long,
    the receiver's status or the error, and whether it was delivered, will be tried again, or
    was dead-lettered after the last attempt."""
    return await forward(request, Upstream.aggregator, f"/webhooks/{webhook_id}/deliveries")
