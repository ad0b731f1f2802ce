"""Rebuild a projection from the log: replay from sequence 1 into a fresh schema, then switch.

The switch holds ``<meta>.heads`` FOR UPDATE while it replays the last few events, so the live
runner (which reads the head FOR SHARE in every batch) pauses, then carries on in the new
schema from the new schema's own checkpoint: no event is applied twice or skipped. A rebuild
that fails drops the schema it was filling: it is never resumed, always started again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from uuid import uuid4

import asyncpg

from fieldcrew_shared.eventstore import EventStore
from fieldcrew_shared.projection import Projection, ProjectionRunner, create_schema

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RebuildResult:
    schema: str
    previous: str
    events: int
    seconds: float
    switched: bool


async def rebuild(
    store: EventStore,
    pool: asyncpg.Pool,
    projection: Projection,
    *,
    switch: bool = True,
    drop_previous: bool = False,
) -> RebuildResult:
    """Replay the whole log into ``<name>_r<random>``; with ``switch`` make it the live schema."""
    runner = ProjectionRunner(store, pool, projection)
    await runner.setup()
    previous = runner.schema
    schema = f"{projection.name}_r{uuid4().hex[:12]}"
    async with pool.acquire() as conn:
        await create_schema(conn, projection, schema)
    started = time.perf_counter()
    try:
        position = await _replay(runner, schema, 1)
        if switch:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(f"SELECT live FROM {runner.meta}.heads FOR UPDATE")
                position = await _replay(runner, schema, position + 1)
                await conn.execute(f"UPDATE {runner.meta}.heads SET live = $1", schema)
                if drop_previous:
                    await conn.execute(f"DROP SCHEMA {previous} CASCADE")
    except BaseException:
        # half a replay is no projection (a ReplayCache's rows may lag its checkpoint)
        try:
            await pool.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning(
                "could not drop a failed rebuild's schema",
                extra={"schema": schema, "why": str(exc)},
            )
        raise
    return RebuildResult(
        schema=schema,
        previous=previous,
        events=position,
        seconds=time.perf_counter() - started,
        switched=switch,
    )


async def _replay(runner: ProjectionRunner, schema: str, start: int) -> int:
    """Apply everything from ``start`` to the stream's current end; returns the last sequence."""
    return await runner.replay(schema, start)
