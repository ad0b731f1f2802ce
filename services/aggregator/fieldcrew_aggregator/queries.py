"""Reads of the server-report projection (the live schema the runner is on). Each is bounded
in time (:class:`BoundedPool`): PostgreSQL down or hung is a BackendUnavailableError."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import orjson
from fieldcrew_shared.database import BoundedPool

from fieldcrew_aggregator.domain import Progress

Positioned = tuple[Progress, int]
"""A work order's progress and the stream sequence of the newest of its events it holds."""


async def progress_of(pool: BoundedPool, schema: str, work_order_id: UUID) -> Positioned | None:
    row = await pool.fetchrow(
        f"SELECT state, last_seq FROM {schema}.progress WHERE work_order_id = $1", work_order_id
    )
    return (orjson.loads(row["state"]), row["last_seq"]) if row is not None else None


async def list_progress(
    pool: BoundedPool,
    schema: str,
    *,
    crew_member: str | None,
    status: str | None,
    limit: int,
    offset: int,
    overdue_at: datetime | None = None,
) -> list[Positioned]:
    """Issued work orders, newest first; only those ``crew_member`` is on when given; only
    those overdue at ``overdue_at`` when given (``fieldcrew_shared.lifecycle.is_overdue``)."""
    rows = await pool.fetch(
        f"SELECT state, last_seq FROM {schema}.progress WHERE issued_at IS NOT NULL"
        " AND ($1::text IS NULL OR crew @> ARRAY[$1::text])"
        " AND ($2::text IS NULL OR status = $2)"
        " AND ($5::timestamptz IS NULL OR (due_at < $5"
        " AND status NOT IN ('completed', 'cancelled')))"
        " ORDER BY issued_at DESC, work_order_id LIMIT $3 OFFSET $4",
        crew_member,
        status,
        limit,
        offset,
        overdue_at,
    )
    return [(orjson.loads(r["state"]), r["last_seq"]) for r in rows]


async def server_report(
    pool: BoundedPool, schema: str, work_order_id: UUID, revision: int | None = None
) -> tuple[int, dict[str, Any]] | None:
    """The newest (or the given) revision of the work order's server report."""
    row = await pool.fetchrow(
        f"SELECT revision, report FROM {schema}.server_reports WHERE work_order_id = $1"
        " AND ($2::int IS NULL OR revision = $2) ORDER BY revision DESC LIMIT 1",
        work_order_id,
        revision,
    )
    return (row["revision"], orjson.loads(row["report"])) if row else None


async def revisions(
    pool: BoundedPool, schema: str, work_order_id: UUID
) -> list[tuple[int, dict[str, Any]]]:
    """Every revision of the work order's server report, oldest first."""
    rows = await pool.fetch(
        f"SELECT revision, report FROM {schema}.server_reports WHERE work_order_id = $1"
        " ORDER BY revision",
        work_order_id,
    )
    return [(row["revision"], orjson.loads(row["report"])) for row in rows]


async def unannounced(pool: BoundedPool, schema: str, limit: int) -> list[asyncpg.Record]:
    """Revisions compiled but not yet announced on the bus, in the order they compiled (a
    work order's revisions in order, whatever ``limit`` cuts off). One index lookup per
    revision whatever the planner's statistics say: after a burst (a rebuild) they can claim
    thousands of rows in the outbox, and a hash join would then scan every report."""
    rows: list[asyncpg.Record] = await pool.fetch(
        "SELECT o.work_order_id, o.revision, r.report FROM (SELECT work_order_id, revision"
        f" FROM {schema}.outbox ORDER BY work_order_id, revision LIMIT $1) o"
        " CROSS JOIN LATERAL (SELECT report, compiled_seq"
        f" FROM {schema}.server_reports r WHERE r.work_order_id = o.work_order_id"
        " AND r.revision = o.revision LIMIT 1) r ORDER BY r.compiled_seq",
        limit,
    )
    return rows


async def announced(pool: BoundedPool, schema: str, revisions: list[tuple[UUID, int]]) -> None:
    """Take announced revisions, ``(work order, revision)``, and any before them, out of the
    outbox."""
    await pool.execute(
        f"DELETE FROM {schema}.outbox o USING unnest($1::uuid[], $2::int[]) a(wo, rev)"
        " WHERE o.work_order_id = a.wo AND o.revision <= a.rev",
        [wo for wo, _ in revisions],
        [rev for _, rev in revisions],
    )
