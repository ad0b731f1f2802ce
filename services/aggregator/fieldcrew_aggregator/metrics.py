"""The aggregator's own metrics (beside the projection's in :mod:`fieldcrew_shared.metrics`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
from fieldcrew_shared.metrics import CONSUMER_ACK_PENDING, CONSUMER_PENDING, DEAD_LETTERS_STORED
from fieldcrew_shared.projection import ProjectionRunner
from prometheus_client import Gauge, Histogram

OUTBOX_SIZE = Gauge(
    "fieldcrew_aggregator_outbox_size",
    "Compiled report revisions not yet announced as ServerReportCompiled",
)
COMPILE_LATENCY = Histogram(
    "fieldcrew_aggregator_compile_latency_seconds",
    "From the event that completed a report revision being stored in the log to that"
    " revision being compiled and committed by the live projection",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)


def refresher(runner: ProjectionRunner, pool: asyncpg.Pool) -> Callable[[], Awaitable[None]]:
    """What a scrape reads: the durable consumer's lag, the outbox and the dead letters."""
    name = runner.projection.name

    async def refresh() -> None:
        lag = await runner.lag()
        CONSUMER_PENDING.labels(name).set(lag["pending"])
        CONSUMER_ACK_PENDING.labels(name).set(lag["ack_pending"])
        schema = runner.schema
        outbox, dead = await pool.fetchrow(
            f"SELECT (SELECT count(*) FROM {schema}.outbox),"
            f" (SELECT count(*) FROM {schema}.dead_letters)"
        )
        OUTBOX_SIZE.set(outbox)
        DEAD_LETTERS_STORED.labels(name).set(dead)

    return refresh
