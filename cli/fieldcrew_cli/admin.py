"""Operator and analyst commands that talk to the running system's servers."""

from __future__ import annotations

import json
import sys

import asyncpg
from fieldcrew_aggregator.projection import ServerReportProjection
from fieldcrew_shared.envelope import decode
from fieldcrew_shared.eventstore import EventStore, connect
from fieldcrew_shared.rebuild import rebuild

from fieldcrew_cli import local
from fieldcrew_cli.export import ExportError, ExportRequest, export


async def _store() -> EventStore:
    env = local.read_env()
    nc = await connect(env["FIELDCREW_NATS_URL"], name="fieldcrew-cli")
    return EventStore(nc, source="fieldcrew/cli")


async def rebuild_aggregator(*, switch: bool) -> int:
    """Replay the log into a fresh aggregator schema; switch the live service to it."""
    store = await _store()
    pool = await asyncpg.create_pool(local.read_env()["FIELDCREW_DATABASE_URL"])
    try:
        result = await rebuild(store, pool, ServerReportProjection(), switch=switch)
    finally:
        await pool.close()
        await store.nc.drain()
    verb = "now live" if result.switched else "built beside the live one (not switched)"
    print(
        f"rebuilt {result.events} events into schema {result.schema} in {result.seconds:.2f} s;"
        f" {verb} (previous: {result.previous})"
    )
    return 0


async def export_events(request: ExportRequest, *, quiet: bool = False) -> int:
    """``fieldcrew events export``: the summary on stdout, a refusal on stderr (exit 2)."""
    store = await _store()
    try:
        result = await export(store, request, progress=None if quiet else sys.stderr)
    except ExportError as exc:
        print(f"fieldcrew events export: {exc}", file=sys.stderr)
        return 2
    finally:
        await store.nc.drain()
    print(result.summary())
    return 0


async def print_events(subject_filter: str, work_order: str | None, start: int) -> int:
    """Every stored event matching the filter, as JSON lines with its stream sequence."""
    store = await _store()
    if work_order:
        subject_filter = f"fieldcrew.*.{work_order}.>"
    try:
        while batch := await store.read(subject_filter, start):
            for raw in batch:
                doc = json.loads(decode(raw.body).model_dump_json())
                sys.stdout.write(json.dumps({"seq": raw.seq, **doc}) + "\n")
            start = batch[-1].seq + 1
    finally:
        await store.nc.drain()
    return 0
