"""The webhook projection: registrations and the deliveries owed, from the log.

Fed by its own durable consumer (``webhooks``) through the shared ``ProjectionRunner``, so a
batch's registrations and deliveries are written with the position in one transaction: every
event after a webhook's registration that it asked for is owed to it exactly once (a delivery
row keyed by webhook and event id). The sender (``sender.py``) works those rows off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg
from fieldcrew_shared.events import WebhookRegistered
from fieldcrew_shared.eventstore import Recorded

from fieldcrew_aggregator.webhooks.domain import wanted

DDL = """
CREATE TABLE IF NOT EXISTS {s}.subscriptions (
    webhook_id uuid PRIMARY KEY,
    event_types text[] NOT NULL,
    sealed text NOT NULL,
    registered_by text NOT NULL,
    registered_at timestamptz NOT NULL,
    registered_seq bigint NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.deliveries (
    webhook_id uuid NOT NULL,
    event_id text NOT NULL,
    seq bigint NOT NULL,
    event_type text NOT NULL,
    body bytea NOT NULL,
    status text NOT NULL DEFAULT 'pending',
    attempts int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    leased_until timestamptz,
    delivered_at timestamptz,
    PRIMARY KEY (webhook_id, event_id));
CREATE INDEX IF NOT EXISTS deliveries_due ON {s}.deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_in_order ON {s}.deliveries (webhook_id, seq);
CREATE TABLE IF NOT EXISTS {s}.attempts (
    webhook_id uuid NOT NULL,
    event_id text NOT NULL,
    attempt int NOT NULL,
    at timestamptz NOT NULL,
    seconds double precision NOT NULL,
    status_code int,
    error text,
    outcome text NOT NULL,
    PRIMARY KEY (webhook_id, event_id, attempt));
"""

REGISTER = """
INSERT INTO {s}.subscriptions VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING
"""
OWE = """
INSERT INTO {s}.deliveries (webhook_id, event_id, seq, event_type, body)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING
"""


class WebhookProjection:
    """Implements :class:`fieldcrew_shared.projection.Projection` for webhooks."""

    name = "webhooks"

    def __init__(self) -> None:
        self.owed = False  # set when a batch owed a delivery (the sender looks then)

    def ddl(self, schema: str) -> str:
        return DDL.format(s=schema)

    async def apply(
        self, conn: asyncpg.Connection, schema: str, records: Sequence[Recorded]
    ) -> None:
        rows = await conn.fetch(
            f"SELECT webhook_id, event_types, registered_seq FROM {schema}.subscriptions"
        )
        subscriptions = [
            Subscribed(r["webhook_id"], r["event_types"], r["registered_seq"]) for r in rows
        ]
        owed: list[tuple[object, ...]] = []
        for record in records:
            event = record.event
            if isinstance(event, WebhookRegistered):
                await conn.execute(REGISTER.format(s=schema), *_registration(record, event))
                subscriptions.append(
                    Subscribed(event.webhook_id, list(event.event_types), record.seq)
                )
                continue
            owed += [_owed(s.webhook_id, record) for s in subscriptions if s.owed(record)]
        if owed:
            await conn.executemany(OWE.format(s=schema), owed)
            self.owed = True


@dataclass(frozen=True)
class Subscribed:
    webhook_id: UUID
    event_types: list[str]
    registered_seq: int

    def owed(self, record: Recorded) -> bool:
        """Whether this webhook is owed ``record``: asked for, and recorded after it was."""
        return record.seq > self.registered_seq and wanted(
            self.event_types, record.envelope.type, record.envelope.readablefrom
        )


def _registration(record: Recorded, event: WebhookRegistered) -> tuple[object, ...]:
    return (
        event.webhook_id, list(event.event_types), event.sealed, event.registered_by,
        record.envelope.recorded_at, record.seq,
    )  # fmt: skip


def _owed(webhook_id: UUID, record: Recorded) -> tuple[object, ...]:
    return (webhook_id, record.envelope.id, record.seq, record.envelope.type, record.body)
