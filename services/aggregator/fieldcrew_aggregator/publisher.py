"""Announce compiled server reports: ``ServerReportCompiled`` for every new revision.

Runs after each committed batch (never during a rebuild), on what the projection put in its
outbox. The event id is derived from the work order and revision, so a repeat is dropped by
JetStream's de-duplication. A revision leaves the outbox once appended, and again (a no-op, or
after a crash in between) when the projection reads the event back from the log.
"""

from __future__ import annotations

import uuid

import asyncpg
import orjson
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.events import ServerReportCompiled
from fieldcrew_shared.eventstore import EventStore

from fieldcrew_aggregator import queries
from fieldcrew_aggregator.projection import ServerReportProjection

NAMESPACE = uuid.UUID("a3c1e0f4-7d2b-4c55-9b7e-3f1d2e6a8c90")
SYSTEM = "fieldcrew-aggregator"
BATCH = 500  # revisions read from the outbox at a time


async def publish_pending(store: EventStore, pool: asyncpg.Pool, schema: str) -> int:
    """Publish every compiled revision not yet announced; returns how many."""
    published = 0
    while True:
        rows = await queries.unannounced(pool, schema, BATCH)
        for row in rows:
            wo, revision = row["work_order_id"], row["revision"]
            event = ServerReportCompiled(
                work_order_id=wo, revision=revision, report=orjson.loads(row["report"])
            )
            meta = Metadata(actor=SYSTEM, actorrole="system", correlationid=str(wo))
            await store.append(event, meta, event_id=uuid.uuid5(NAMESPACE, f"{wo}:{revision}"))
            await queries.announced(pool, schema, wo, revision)
        published += len(rows)
        if len(rows) < BATCH:
            return published


class Announcer:
    """The live runner's after-commit step: publishes what the projection put in its outbox.
    After a batch that compiled nothing (most batches) it does not look, unless the live
    schema changed or the last attempt failed."""

    def __init__(
        self, store: EventStore, pool: asyncpg.Pool, projection: ServerReportProjection
    ) -> None:
        self.store, self.pool, self.projection = store, pool, projection
        self.looked_at: str | None = None  # the schema whose outbox was last emptied

    async def __call__(self, schema: str) -> None:
        if schema == self.looked_at and not self.projection.outboxed:
            return
        self.projection.outboxed, self.looked_at = False, None
        await publish_pending(self.store, self.pool, schema)
        self.looked_at = schema
