"""The aggregator's projection as PostgreSQL holds it: waiting for it to catch up, reading its
reports, and comparing it with a full rebuild, table by table and column by column."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
from fieldcrew_aggregator.projection import ServerReportProjection
from fieldcrew_shared.eventstore import EventStore
from fieldcrew_shared.rebuild import rebuild

META = "aggregator_meta"
# Columns that are not derived from the log: when a dead letter was written is the clock of
# the process that wrote it, so a rebuild writes its own time there. Everything else must be
# byte-equal.
NOT_FROM_THE_LOG = {("dead_letters", "recorded_at")}


@dataclass
class Live:
    """What the live projection holds: its schema and every report revision by work order."""

    schema: str
    position: int
    reports: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)
    dead_letters: dict[int, str] = field(default_factory=dict)  # seq -> reason


@dataclass
class Comparison:
    """A rebuild against the live projection."""

    equal: bool
    tables: dict[str, dict[str, Any]]
    differences: list[str]
    rebuild_seconds: float


async def live_schema(db: asyncpg.Pool | asyncpg.Connection) -> str:
    """The schema the aggregator reads and writes now (a rebuild may have switched it)."""
    return str(await db.fetchval(f"SELECT live FROM {META}.heads"))


async def settle(pool: asyncpg.Pool, store: EventStore, within: float) -> float | None:
    """Wait until the projection has applied the whole log and announced everything, twice
    in a row half a second apart (an announcement is itself an event to apply). Returns how
    long it took, or None when it did not ``within`` seconds."""
    began = time.monotonic()
    calm = 0
    while time.monotonic() - began < within:
        try:
            caught_up = await _caught_up(pool, store)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            caught_up = False  # the database is coming back
        calm = calm + 1 if caught_up else 0
        if calm >= 2:
            return time.monotonic() - began
        await asyncio.sleep(0.5)
    return None


async def _caught_up(pool: asyncpg.Pool, store: EventStore) -> bool:
    schema = await live_schema(pool)
    position = await pool.fetchval(f"SELECT position FROM {schema}.checkpoint")
    unannounced = await pool.fetchval(f"SELECT count(*) FROM {schema}.outbox")
    return bool(position == await store.last_sequence() and unannounced == 0)


async def read_live(pool: asyncpg.Pool) -> Live:
    schema = await live_schema(pool)
    live = Live(schema, await pool.fetchval(f"SELECT position FROM {schema}.checkpoint"))
    reports: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for row in await pool.fetch(
        f"SELECT work_order_id, revision, report FROM {schema}.server_reports"
    ):
        reports[str(row["work_order_id"])].append((row["revision"], orjson.loads(row["report"])))
    live.reports = dict(reports)
    rows = await pool.fetch(f"SELECT work_order_id, status FROM {schema}.progress")
    live.statuses = {str(r["work_order_id"]): r["status"] for r in rows}
    rows = await pool.fetch(f"SELECT seq, reason FROM {schema}.dead_letters")
    live.dead_letters = {r["seq"]: r["reason"] for r in rows}
    return live


async def compare_with_rebuild(pool: asyncpg.Pool, store: EventStore) -> Comparison:
    """Rebuild the projection beside the live one (``fieldcrew rebuild aggregator --dry-run``),
    hash every table of both, column by column, then drop the rebuilt schema."""
    live = await live_schema(pool)
    result = await rebuild(store, pool, ServerReportProjection(), switch=False)
    try:
        tables: dict[str, dict[str, Any]] = {}
        differences: list[str] = []
        live_tables, built_tables = await _tables(pool, live), await _tables(pool, result.schema)
        if live_tables != built_tables:
            differences.append(f"tables differ: live {live_tables}, rebuilt {built_tables}")
        for table, columns in live_tables.items():
            if built_tables.get(table) != columns:
                continue
            kept = [c for c in columns if (table, c) not in NOT_FROM_THE_LOG]
            a = await _digest(pool, live, table, kept)
            b = await _digest(pool, result.schema, table, kept)
            tables[table] = {"rows": a[0], "live": a[1], "rebuilt": b[1], "equal": a == b,
                             "columns": kept}  # fmt: skip
            if a != b:
                differences.append(f"{table}: live {a}, rebuilt {b}")
                differences += await _some_differences(pool, live, result.schema, table, kept)
        return Comparison(not differences, tables, differences, result.seconds)
    finally:
        await pool.execute(f"DROP SCHEMA IF EXISTS {result.schema} CASCADE")


async def _tables(pool: asyncpg.Pool, schema: str) -> dict[str, list[str]]:
    rows = await pool.fetch(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = $1 ORDER BY table_name, ordinal_position",
        schema,
    )
    out: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        out[r["table_name"]].append(r["column_name"])
    return dict(out)


def _row(columns: list[str]) -> str:
    return "ROW(" + ", ".join(f'"{c}"' for c in columns) + ")::text"


async def _digest(
    pool: asyncpg.Pool, schema: str, table: str, columns: list[str]
) -> tuple[int, str]:
    """Row count and an md5 over the md5 of every row's text, in a fixed order."""
    row = await pool.fetchrow(
        f"SELECT count(*) AS n, md5(coalesce(string_agg(h, '' ORDER BY h), '')) AS digest"
        f" FROM (SELECT md5({_row(columns)}) AS h FROM {schema}.{table}) t"
    )
    return int(row["n"]), str(row["digest"])


async def _some_differences(
    pool: asyncpg.Pool, live: str, built: str, table: str, columns: list[str]
) -> list[str]:
    """Up to three rows that differ, each shown where its live and rebuilt texts part."""
    only: dict[str, dict[str, str]] = {}
    for name, a, b in (("live", live, built), ("rebuilt", built, live)):
        rows = await pool.fetch(
            f"(SELECT {_row(columns)} AS r FROM {a}.{table}"
            f" EXCEPT SELECT {_row(columns)} FROM {b}.{table}) ORDER BY 1 LIMIT 3"
        )
        only[name] = {r["r"].split(",", 1)[0]: r["r"] for r in rows}
    out = []
    for key in sorted(only["live"].keys() | only["rebuilt"].keys())[:3]:
        a, b = only["live"].get(key, ""), only["rebuilt"].get(key, "")
        at = next(
            (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
        )
        out.append(f"  {table} {key}: live ...{a[max(0, at - 80) : at + 160]}")
        out.append(f"  {table} {key}: rebuilt ...{b[max(0, at - 80) : at + 160]}")
    return out
