"""The webhook worker inside the aggregator: the projection of registrations and deliveries
owed (its own durable consumer, ``webhooks``) and the sender, each a supervised task, both in
``/readyz`` (ADR 0043)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
from fieldcrew_shared.eventstore import EventStore
from fieldcrew_shared.health import Readiness
from fieldcrew_shared.projection import ProjectionRunner
from fieldcrew_shared.settings import Mode
from fieldcrew_shared.supervision import Supervised

from fieldcrew_aggregator.config import Settings
from fieldcrew_aggregator.webhooks.addresses import AddressPolicy
from fieldcrew_aggregator.webhooks.api import Webhooks
from fieldcrew_aggregator.webhooks.domain import Retry
from fieldcrew_aggregator.webhooks.projection import WebhookProjection
from fieldcrew_aggregator.webhooks.sealing import Sealer
from fieldcrew_aggregator.webhooks.sender import Sender


async def start_webhooks(
    settings: Settings, store: EventStore, pool: asyncpg.Pool, readiness: Readiness
) -> tuple[Webhooks, Callable[[], Awaitable[None]]]:
    """Set up and start the webhook projection and sender; what the routes use, and what
    stops both."""
    key = settings.webhook_key.get_secret_value() if settings.webhook_key else None
    sealer = Sealer(key)
    policy = AddressPolicy(public_only=settings.mode is Mode.production)
    projection = WebhookProjection()
    sender = Sender(
        pool,
        lambda: runner.schema,
        sealer,
        policy,
        retry=Retry(
            settings.webhook_attempts, settings.webhook_retry_first, settings.webhook_retry_longest
        ),
        timeout=settings.webhook_timeout,
        concurrency=settings.webhook_concurrency,
    )

    async def wake_sender(schema: str) -> None:
        if projection.owed:
            projection.owed = False
            sender.wake()

    runner = ProjectionRunner(store, pool, projection, after_commit=wake_sender)
    await runner.setup()
    stop = asyncio.Event()
    projecting = Supervised("webhook-projection", lambda: runner.run(stop), on_stop=stop.set)
    sending = Supervised("webhook-sender", sender.run, on_stop=sender.close)
    readiness.add("webhook-projection", projecting.check)
    readiness.add("webhook-sender", sending.check)
    projecting.start()
    sending.start()

    async def finish() -> None:
        try:
            await projecting.stop()
        finally:
            await sending.stop()

    return Webhooks(sealer, policy, runner), finish
