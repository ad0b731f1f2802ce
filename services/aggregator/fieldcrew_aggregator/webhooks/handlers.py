"""Registering a webhook: load → decide → append, one command like any other.

The webhook id comes from the admin and their ``Idempotency-Key`` when they send one, so a
retry finds the registration the first try made (and its secret, opened again) instead of
registering a second webhook.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from fieldcrew_shared.auth import Principal
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.errors import ConcurrencyError, InvalidCommandError
from fieldcrew_shared.events import WebhookRegistered, subject_for
from fieldcrew_shared.eventstore import EventStore, Recorded

from fieldcrew_aggregator.webhooks.addresses import AddressPolicy
from fieldcrew_aggregator.webhooks.domain import RegisterWebhook, check_register, decide_register
from fieldcrew_aggregator.webhooks.sealing import Opened, Sealer, new_secret

NAMESPACE = uuid.UUID("6d0c9a59-2f1e-4f7e-9a55-6b1d7c3e2a40")


@dataclass(frozen=True)
class Registered:
    event: WebhookRegistered
    opened: Opened
    recorded_at: datetime
    replayed: bool


async def register(
    store: EventStore,
    sealer: Sealer,
    policy: AddressPolicy,
    cmd: RegisterWebhook,
    meta: Metadata,
) -> Registered:
    """Register ``cmd``'s webhook (once per idempotency key); its secret, opened."""
    check_register(cmd)
    await policy.target(cmd.url)  # refused here already, not only when sending
    aggregate = subject_for("aggregator", cmd.webhook_id)
    found = await _registered(store, aggregate)
    if found is not None:
        return _replay(sealer, found, cmd)
    opened = Opened(url=cmd.url, secret=new_secret())
    event = decide_register(cmd, sealer.seal(opened))
    try:
        appended = await store.append(
            event, meta, expected_version=0, aggregate=aggregate, event_id=cmd.webhook_id
        )
    except ConcurrencyError:  # the same retry, a moment earlier
        found = await _registered(store, aggregate)
        if found is None:
            raise
        return _replay(sealer, found, cmd)
    return Registered(event, opened, appended.envelope.recordedat, replayed=False)


def webhook_id(principal: Principal, idempotency_key: str | None) -> uuid.UUID:
    """A new webhook's id: derived from the admin and their key, so that a retry finds it."""
    if idempotency_key is None:
        return uuid.uuid4()
    return uuid.uuid5(NAMESPACE, f"{principal.sub}\n{idempotency_key}")


async def _registered(store: EventStore, aggregate: str) -> Recorded | None:
    loaded = await store.load(aggregate)
    return next((r for r in loaded.records if isinstance(r.event, WebhookRegistered)), None)


def _replay(sealer: Sealer, found: Recorded, cmd: RegisterWebhook) -> Registered:
    assert isinstance(found.event, WebhookRegistered)
    opened = sealer.open(found.event.sealed)
    if opened.url != cmd.url or set(found.event.event_types) != set(cmd.event_types):
        raise InvalidCommandError(
            "this Idempotency-Key registered another webhook", code="idempotency_key_reused"
        )
    return Registered(found.event, opened, found.envelope.recordedat, replayed=True)
