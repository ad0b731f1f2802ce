"""Reads of the webhook projection (its live schema)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import orjson

SUBSCRIPTIONS = """
SELECT s.webhook_id, s.event_types, s.sealed, s.registered_by, s.registered_at,
       coalesce(c.counts, '{{}}'::jsonb)::text AS counts
FROM {s}.subscriptions s LEFT JOIN LATERAL (
    SELECT jsonb_object_agg(status, n) AS counts FROM (
        SELECT status, count(*) AS n FROM {s}.deliveries d
        WHERE d.webhook_id = s.webhook_id GROUP BY status) per_status) c ON true
WHERE $1::uuid IS NULL OR s.webhook_id = $1
ORDER BY s.registered_seq
"""

DELIVERIES = """
SELECT d.event_id, d.event_type, d.seq, d.status, d.next_attempt_at, d.delivered_at,
       coalesce((SELECT json_agg(json_build_object(
            'attempt', a.attempt, 'at', a.at, 'seconds', a.seconds,
            'status_code', a.status_code, 'error', a.error, 'outcome', a.outcome)
            ORDER BY a.attempt)
        FROM {s}.attempts a WHERE a.webhook_id = d.webhook_id AND a.event_id = d.event_id),
        '[]')::text AS attempts
FROM {s}.deliveries d
WHERE d.webhook_id = $1 AND ($2::text IS NULL OR d.status = $2)
ORDER BY d.seq LIMIT $3 OFFSET $4
"""


async def subscriptions(
    pool: asyncpg.Pool, schema: str, webhook_id: UUID | None = None
) -> list[asyncpg.Record]:
    """Every subscription (or one), with its deliveries counted by status."""
    rows: list[asyncpg.Record] = await pool.fetch(SUBSCRIPTIONS.format(s=schema), webhook_id)
    return rows


async def deliveries(
    pool: asyncpg.Pool,
    schema: str,
    webhook_id: UUID,
    *,
    status: str | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """A webhook's deliveries in log order, each with its attempts."""
    rows = await pool.fetch(DELIVERIES.format(s=schema), webhook_id, status, limit, offset)
    return [
        {
            "event_id": r["event_id"], "event_type": r["event_type"], "sequence": r["seq"],
            "status": r["status"],
            "next_attempt_at": r["next_attempt_at"] if r["status"] == "pending" else None,
            "delivered_at": r["delivered_at"], "attempts": orjson.loads(r["attempts"]),
        }
        for r in rows
    ]  # fmt: skip
