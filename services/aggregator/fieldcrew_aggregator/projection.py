"""The server-report projection: one JSONB progress row per work order in PostgreSQL, and
every compiled revision of every server report.

A batch of events is folded in memory (one SELECT ... FOR UPDATE of the work orders it
touches, one upsert of the changed rows), with the compile rule checked after every event, so
a batch gives exactly what one-event-at-a-time would have given.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from fieldcrew_shared.eventstore import Recorded

from fieldcrew_aggregator.domain import Progress, crew_of, empty_progress, fold, recompile, status

DDL = """
CREATE TABLE IF NOT EXISTS {s}.progress (
    work_order_id uuid PRIMARY KEY,
    state jsonb NOT NULL,
    status text NOT NULL,
    crew text[] NOT NULL DEFAULT '{{}}',
    issued_at timestamptz,
    revision int NOT NULL DEFAULT 0,
    published_revision int NOT NULL DEFAULT 0,
    last_seq bigint NOT NULL);
CREATE INDEX IF NOT EXISTS progress_status ON {s}.progress (status, issued_at);
CREATE INDEX IF NOT EXISTS progress_crew ON {s}.progress USING gin (crew);
CREATE INDEX IF NOT EXISTS progress_unpublished ON {s}.progress (work_order_id)
    WHERE revision > published_revision;
CREATE TABLE IF NOT EXISTS {s}.server_reports (
    work_order_id uuid NOT NULL,
    revision int NOT NULL,
    report jsonb NOT NULL,
    compiled_seq bigint NOT NULL,
    PRIMARY KEY (work_order_id, revision));
"""

UPSERT = """
INSERT INTO {s}.progress AS p
    (work_order_id, state, status, crew, issued_at, revision, published_revision, last_seq)
VALUES ($1, $2::jsonb, $3, $4, $5, $6, $7, $8)
ON CONFLICT (work_order_id) DO UPDATE SET
    state = excluded.state, status = excluded.status, crew = excluded.crew,
    issued_at = excluded.issued_at, revision = excluded.revision,
    published_revision = greatest(p.published_revision, excluded.published_revision),
    last_seq = excluded.last_seq
"""


class ServerReportProjection:
    """Implements :class:`fieldcrew_shared.projection.Projection`."""

    name = "aggregator"

    def ddl(self, schema: str) -> str:
        return DDL.format(s=schema)

    async def apply(
        self, conn: asyncpg.Connection, schema: str, records: Sequence[Recorded]
    ) -> None:
        ids = list(dict.fromkeys(r.event.work_order_id for r in records))
        rows = await conn.fetch(
            f"SELECT work_order_id, state FROM {schema}.progress"
            " WHERE work_order_id = ANY($1::uuid[]) ORDER BY work_order_id FOR UPDATE",
            ids,
        )
        states: dict[UUID, Progress] = {r["work_order_id"]: json.loads(r["state"]) for r in rows}
        last_seq, compiled = _fold_all(states, records)
        latest = {wo: body for wo, _, body, _ in compiled}  # each one's current report, as JSON
        await conn.executemany(
            UPSERT.format(s=schema),
            [_row(wo, states[wo], seq, latest.get(wo)) for wo, seq in last_seq.items()],
        )
        if compiled:
            await conn.executemany(
                f"INSERT INTO {schema}.server_reports VALUES ($1, $2, $3::jsonb, $4)"
                " ON CONFLICT DO NOTHING",
                compiled,
            )


Compiled = tuple[UUID, int, str, int]  # work order, revision, report JSON, sequence


def _fold_all(
    states: dict[UUID, Progress], records: Sequence[Recorded]
) -> tuple[dict[UUID, int], list[Compiled]]:
    """Fold the batch in order into ``states``; each work order's last sequence, and every
    revision compiled on the way."""
    last_seq: dict[UUID, int] = {}
    compiled: list[Compiled] = []
    for record in records:
        wo = record.event.work_order_id
        progress = states.get(wo)
        if progress is None:
            progress = states[wo] = empty_progress(str(wo))
        last_seq[wo] = record.seq
        # the rule can only change its answer when what it reads changed
        if fold(progress, record.event, record.envelope.recorded_at) and recompile(progress):
            compiled.append((wo, progress["revision"], _json(progress["compiled"]), record.seq))
    return last_seq, compiled


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _state_json(progress: Progress, compiled: str | None) -> str:
    """``progress`` as JSON; its report given already as JSON is spliced in, not dumped again
    (the report is about half of the document)."""
    if compiled is None:
        return _json(progress)
    rest = _json({k: v for k, v in progress.items() if k != "compiled"})
    return f'{rest[:-1]},"compiled":{compiled}}}'


def _row(wo: UUID, progress: Progress, seq: int, compiled: str | None) -> tuple[Any, ...]:
    wo_data = progress["work_order"]
    issued = datetime.fromisoformat(wo_data["issued_at"]) if wo_data else None
    return (
        wo,
        _state_json(progress, compiled),
        status(progress),
        crew_of(progress),
        issued,
        progress["revision"],
        progress["published_revision"],
        seq,
    )
