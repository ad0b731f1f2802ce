"""The aggregator's webhook API: register a webhook, list them, read a webhook's deliveries.
Only an admin (``domain.require_admin``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fieldcrew_shared.api_models import MAX_QUERY_INT, RegisterWebhookRequest
from fieldcrew_shared.errors import NotFoundError
from fieldcrew_shared.events import subject_for
from fieldcrew_shared.eventstore import EventStore
from fieldcrew_shared.projection import ProjectionRunner
from fieldcrew_shared.service import store_of
from fieldcrew_shared.web import CurrentPrincipal, RequestMetadata

from fieldcrew_aggregator.webhooks import queries
from fieldcrew_aggregator.webhooks.addresses import AddressPolicy
from fieldcrew_aggregator.webhooks.domain import RegisterWebhook, require_admin
from fieldcrew_aggregator.webhooks.handlers import register, webhook_id
from fieldcrew_aggregator.webhooks.sealing import Sealer

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


@dataclass(frozen=True)
class Webhooks:
    """What the webhook routes use: the sealer, the address policy, the projection's runner."""

    sealer: Sealer
    policy: AddressPolicy
    runner: ProjectionRunner


def webhooks_of(request: Request) -> Webhooks:
    hooks: Webhooks = request.app.state.webhooks
    return hooks


Hooks = Annotated[Webhooks, Depends(webhooks_of)]
Store = Annotated[EventStore, Depends(store_of)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


@router.post("", status_code=201)
async def register_webhook(
    body: RegisterWebhookRequest,
    response: Response,
    principal: CurrentPrincipal,
    meta: RequestMetadata,
    store: Store,
    hooks: Hooks,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Register a URL for the events of ``event_types``; 201 with its id and its signing
    secret, shown this once."""
    cmd = RegisterWebhook(
        webhook_id(principal, idempotency_key), body.url, tuple(body.event_types), principal
    )
    done = await register(store, hooks.sealer, hooks.policy, cmd, meta)
    if done.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return {
        "id": done.event.webhook_id, "url": done.opened.url,
        "event_types": list(done.event.event_types), "registered_by": done.event.registered_by,
        "registered_at": done.recorded_at, "secret": done.opened.secret, "deliveries": {},
    }  # fmt: skip


@router.get("")
async def list_webhooks(principal: CurrentPrincipal, hooks: Hooks) -> list[dict[str, Any]]:
    """Every webhook the worker has read, with its deliveries counted by status."""
    require_admin(principal)
    rows = await queries.subscriptions(hooks.runner.pool, hooks.runner.schema)
    return [_webhook(hooks, row) for row in rows]


@router.get("/{webhook_id}/deliveries")
async def list_deliveries(
    webhook_id: UUID,
    principal: CurrentPrincipal,
    store: Store,
    hooks: Hooks,
    status: Literal["pending", "delivered", "dead"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_QUERY_INT)] = 0,
) -> list[dict[str, Any]]:
    """The events owed to the webhook, in log order, each with every attempt so far."""
    require_admin(principal)
    pool, schema = hooks.runner.pool, hooks.runner.schema
    registered = subject_for("aggregator", webhook_id, "WebhookRegistered")
    # registered a moment ago and not read by the worker yet: known, nothing owed yet
    known = await queries.subscriptions(pool, schema, webhook_id) or await store.last(registered)
    if not known:
        raise NotFoundError("no such webhook")
    return await queries.deliveries(
        pool, schema, webhook_id, status=status, limit=limit, offset=offset
    )


def _webhook(hooks: Webhooks, row: Any) -> dict[str, Any]:
    return {
        "id": row["webhook_id"], "url": hooks.sealer.open(row["sealed"]).url,
        "event_types": row["event_types"], "registered_by": row["registered_by"],
        "registered_at": row["registered_at"], "deliveries": orjson.loads(row["counts"]),
    }  # fmt: skip
