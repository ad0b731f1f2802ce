"""The aggregator's tables: ``progress`` (one row per work order, its document as ``json``
text), ``server_reports`` (every compiled revision) and ``outbox`` (revisions not yet seen
announced); and a work order's progress as the row it is stored in."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from fieldcrew_aggregator.domain import Progress, crew_of, status

DDL = """
CREATE TABLE IF NOT EXISTS {s}.progress (
    work_order_id uuid PRIMARY KEY,
    state json NOT NULL,
    status text NOT NULL,
    crew text[] NOT NULL DEFAULT '{{}}',
    issued_at timestamptz,
    revision int NOT NULL DEFAULT 0,
    published_revision int NOT NULL DEFAULT 0,
    last_seq bigint NOT NULL);
CREATE INDEX IF NOT EXISTS progress_status ON {s}.progress (status, issued_at);
CREATE INDEX IF NOT EXISTS progress_crew ON {s}.progress USING gin (crew);
CREATE TABLE IF NOT EXISTS {s}.server_reports (
    work_order_id uuid NOT NULL,
    revision int NOT NULL,
    report json NOT NULL,
    compiled_seq bigint NOT NULL,
    PRIMARY KEY (work_order_id, revision));
DO $$ BEGIN
    IF to_regclass('{s}.outbox') IS NULL THEN
        CREATE TABLE {s}.outbox (
            work_order_id uuid NOT NULL,
            revision int NOT NULL,
            PRIMARY KEY (work_order_id, revision));
        -- a schema made before the outbox: what it had not announced yet
        INSERT INTO {s}.outbox SELECT r.work_order_id, r.revision
            FROM {s}.progress p JOIN {s}.server_reports r
            ON r.work_order_id = p.work_order_id AND r.revision > p.published_revision;
    END IF;
END $$;
DROP INDEX IF EXISTS {s}.progress_unpublished;
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM information_schema.columns WHERE table_schema = '{s}'
            AND table_name = 'progress' AND column_name = 'due_at') THEN
        ALTER TABLE {s}.progress ADD COLUMN due_at timestamptz;
        -- a schema made before the column: the due time of every work order it holds
        UPDATE {s}.progress SET due_at = (state::jsonb #>> '{{work_order,due_at}}')::timestamptz;
    END IF;
END $$;
CREATE INDEX IF NOT EXISTS progress_due ON {s}.progress (due_at)
    WHERE due_at IS NOT NULL AND status NOT IN ('completed', 'cancelled');
"""

UPSERT = """
INSERT INTO {s}.progress AS p
    (work_order_id, state, status, crew, issued_at, revision, published_revision, last_seq,
     due_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (work_order_id) DO UPDATE SET
    state = excluded.state, status = excluded.status, crew = excluded.crew,
    issued_at = excluded.issued_at, revision = excluded.revision, due_at = excluded.due_at,
    published_revision = greatest(p.published_revision, excluded.published_revision),
    last_seq = excluded.last_seq
"""

# A compiled revision goes to the outbox unless its announcement is already in this batch
INSERT_REPORT = """
WITH report AS (
    INSERT INTO {s}.server_reports VALUES ($1, $2, $3, $4)
    ON CONFLICT DO NOTHING RETURNING work_order_id, revision)
INSERT INTO {s}.outbox SELECT work_order_id, revision FROM report WHERE $5::bool
ON CONFLICT DO NOTHING
"""

Row = tuple[Any, ...]  # a progress row as UPSERT takes it: (work order, state JSON, ..., seq)


def to_json(value: Any) -> str:
    """``value`` as compact JSON text."""
    # orjson: a progress document is ~10 KB, and json.dumps took ~15x as long (bench/README.md)
    return orjson.dumps(value).decode()


def _state_json(progress: Progress, compiled: str | None) -> str:
    """``progress`` as JSON with its report last, however it was written: a live row and a
    rebuilt one are the same text byte for byte, whatever order their keys were added in (a
    row stored before a key existed gets it appended when next folded; a new one has it in
    ``empty_progress``'s place). The report given already as JSON is spliced in, not dumped
    again (it is about half of the document)."""
    if compiled is None:
        compiled = to_json(progress["compiled"])
    rest = to_json({k: v for k, v in progress.items() if k != "compiled"})
    return f'{rest[:-1]},"compiled":{compiled}}}'


def row_of(wo: UUID, progress: Progress, seq: int, compiled: str | None) -> Row:
    """Work order ``wo``'s ``progress`` as the row ``UPSERT`` writes, its last event at
    ``seq``; ``compiled``: its report already as JSON, when at hand."""
    wo_data = progress["work_order"]
    issued = datetime.fromisoformat(wo_data["issued_at"]) if wo_data else None
    due = wo_data.get("due_at") if wo_data else None
    return (
        wo,
        _state_json(progress, compiled),
        status(progress).value,
        crew_of(progress),
        issued,
        progress["revision"],
        progress["published_revision"],
        seq,
        datetime.fromisoformat(due) if due else None,
    )
