"""5. A peer: the ``eventsourcing`` library (PyPI) with its PostgreSQL persistence on the same
PostgreSQL server, appending and reading back the same event shapes as our event store: 10
events for each work order (issued, 4 notes, report, 4 photos), one durable write per event
(each side checks optimistic concurrency: we with expected-sequence headers, it with its
unique version constraint), then each work order's events read back.

The work orders are split into ``reps`` chunks played alternately by each side, so that both
meet the same noise; the figure is the median chunk rate."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import parse_qs, urlparse
from uuid import UUID

import asyncpg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from fieldcrew_shared.eventstore import EventStore, connect

from bench.append import work_orders
from bench.env import BenchEnv
from bench.stats import Results, Row, median
from bench.workload import SOURCES, Step

SECTION = "5 peer"
PEER_DATABASE = "bench_peer"


class WorkOrder(Aggregate):
    """The peer's aggregate: one work order, its history carried as the same payloads."""

    @event("Issued")
    def __init__(self, data: dict[str, Any]) -> None:
        self.events = 1

    @event("Recorded")
    def record(self, kind: str, data: dict[str, Any]) -> None:
        self.events += 1


class WorkOrders(Application[UUID]):
    """The peer's application (its repository and its PostgreSQL recorder)."""


def peer_env(database_url: str) -> dict[str, str]:
    """``POSTGRES_*`` settings for the peer: our server's Unix socket dir as host."""
    url = urlparse(database_url)
    socket_dir = parse_qs(url.query)["host"][0]
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": PEER_DATABASE,
        "POSTGRES_HOST": socket_dir,
        "POSTGRES_PORT": "5432",
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_PASSWORD": "unused-trust-auth",
        "POSTGRES_POOL_SIZE": "4",
    }


async def _fresh_database(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {PEER_DATABASE}")
        await conn.execute(f"CREATE DATABASE {PEER_DATABASE}")
    finally:
        await conn.close()


def their_append(app: WorkOrders, orders: list[list[Step]]) -> list[UUID]:
    """Each event its own ``save`` (one transaction), as each command would."""
    ids = []
    for steps in orders:
        first, rest = steps[0], steps[1:]
        aggregate = WorkOrder(first.event.model_dump(mode="json"))
        app.save(aggregate)
        for step in rest:
            aggregate.record(step.event.name, step.event.model_dump(mode="json"))
            app.save(aggregate)
        ids.append(aggregate.id)
    return ids


def their_read(app: WorkOrders, ids: list[UUID]) -> int:
    events = 0
    for aggregate_id in ids:
        aggregate: WorkOrder = app.repository.get(aggregate_id)
        events += aggregate.events
    return events


async def our_append(stores: dict[str, EventStore], orders: list[list[Step]]) -> None:
    for steps in orders:
        versions: dict[str, int] = {}
        for step in steps:
            appended = await stores[step.event.context].append(
                step.event,
                step.meta,
                expected_version=versions.get(step.aggregate, 0),
                aggregate=step.aggregate,
            )
            versions[step.aggregate] = appended.seq


async def our_read(store: EventStore, orders: list[list[Step]]) -> int:
    events = 0
    for steps in orders:
        loaded = await store.load(f"fieldcrew.*.{steps[0].event.work_order_id}.>")
        events += len(loaded.records)
    return events


async def run(env: BenchEnv, results: Results, *, orders: int, reps: int) -> None:
    """``orders`` work orders for each side, in ``reps`` alternating chunks."""
    await _fresh_database(env.infra.database_url)
    app = WorkOrders(env=peer_env(env.infra.database_url))
    nc = await connect(env.infra.nats_url, name="bench-peer")
    stores = {ctx: EventStore(nc, source=src) for ctx, src in SOURCES.items()}
    rates: dict[str, list[float]] = {k: [] for k in ("ours_append", "their_append",
                                                     "ours_read", "their_read")}  # fmt: skip
    try:
        chunk = max(1, orders // reps)
        for rep in range(reps):
            mine, theirs = work_orders(chunk, seed=500 + rep), work_orders(chunk, seed=900 + rep)
            for side in ("ours", "theirs") if rep % 2 == 0 else ("theirs", "ours"):
                await _one_side(side, app, stores, mine if side == "ours" else theirs, rates)
    finally:
        app.close()
        await nc.drain()
    _report(results, rates, chunk * reps)


async def _one_side(
    side: str,
    app: WorkOrders,
    stores: dict[str, EventStore],
    orders: list[list[Step]],
    rates: dict[str, list[float]],
) -> None:
    count = sum(len(steps) for steps in orders)
    started = time.perf_counter()
    if side == "ours":
        await our_append(stores, orders)
        appended = time.perf_counter()
        events = await our_read(stores["dispatch"], orders)
        key = "ours"
    else:
        ids = await asyncio.to_thread(their_append, app, orders)
        appended = time.perf_counter()
        events = await asyncio.to_thread(their_read, app, ids)
        key = "their"
    assert events == count, f"{side} read back {events} of {count} events"
    rates[f"{key}_append"].append(count / (appended - started))
    rates[f"{key}_read"].append(count / (time.perf_counter() - appended))


def _report(results: Results, rates: dict[str, list[float]], orders: int) -> None:
    results.record(SECTION, "eventsourcing", {"work_orders_per_side": orders, **rates})
    ours, theirs = median(rates["ours_append"]), median(rates["their_append"])
    results.add(Row(SECTION, "append, one event per write", ours, "events/s", theirs,
                    "eventsourcing", ">=2x eventsourcing", ours >= 2 * theirs))  # fmt: skip
    results.add(Row(SECTION, "read back per work order", median(rates["ours_read"]),
                    "events/s", median(rates["their_read"]), "eventsourcing"))  # fmt: skip
