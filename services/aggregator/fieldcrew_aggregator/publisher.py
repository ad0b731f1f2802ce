"""Announce compiled server reports: ``ServerReportCompiled`` for every new revision.

Runs after each committed batch (never during a rebuild). The event id is derived from the
work order and revision, so a repeat is dropped by JetStream's de-duplication, and the
projection marks a revision published when it reads the event back from the log.
"""

from __future__ import annotations

import json
import uuid

import asyncpg
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.events import ServerReportCompiled
from fieldcrew_shared.eventstore import EventStore

from fieldcrew_aggregator import queries

NAMESPACE = uuid.UUID("a3c1e0f4-7d2b-4c55-9b7e-3f1d2e6a8c90")
SYSTEM = "fieldcrew-aggregator"


async def publish_pending(store: EventStore, pool: asyncpg.Pool, schema: str) -> int:
    """Publish every compiled revision not yet announced; returns how many."""
    rows = await queries.unpublished(pool, schema)
    for row in rows:
        wo, revision = row["work_order_id"], row["revision"]
        event = ServerReportCompiled(
            work_order_id=wo, revision=revision, report=json.loads(row["report"])
        )
        meta = Metadata(actor=SYSTEM, actorrole="system", correlationid=str(wo))
        await store.append(event, meta, event_id=uuid.uuid5(NAMESPACE, f"{wo}:{revision}"))
        await queries.mark_published(pool, schema, wo, revision)
    return len(rows)
