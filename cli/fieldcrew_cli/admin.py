"""Operator and analyst commands that talk to the running system's servers."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from uuid import UUID

import asyncpg
from fieldcrew_aggregator.as_of import Moment, progress_as_of
from fieldcrew_aggregator.projection import ServerReportProjection
from fieldcrew_shared.envelope import decode
from fieldcrew_shared.errors import InvalidCommandError, StreamConfigError
from fieldcrew_shared.eventstore import EventStore, connect
from fieldcrew_shared.rebuild import rebuild

from fieldcrew_cli import local
from fieldcrew_cli.export import ExportError, ExportRequest, export
from fieldcrew_cli.replay import ReplayError, check_schema, load_projection, replay


async def _store() -> EventStore:
    env = local.read_env()
    if "FIELDCREW_NATS_URL" not in env:
        raise SystemExit(
            "FIELDCREW_NATS_URL is not set and no `fieldcrew run` is up in "
            f"{local.data_dir()}: set it to the NATS admin's URL(s)"
        )
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


async def print_report(work_order_id: UUID, as_of: str | None) -> int:
    """``fieldcrew report``: a server report as it stood at ``as_of`` (default: now), folded
    from the log by the aggregator's own fold, as JSON on stdout."""
    try:
        moment = Moment.parse(as_of) if as_of is not None else Moment()
    except InvalidCommandError as exc:
        print(f"fieldcrew report: {exc.message}", file=sys.stderr)
        return 2
    store = await _store()
    try:
        progress = await progress_as_of(store, work_order_id, moment)
    finally:
        await store.nc.drain()
    if progress["work_order"] is None:
        print(f"fieldcrew report: no work order {work_order_id} by then", file=sys.stderr)
        return 1
    if progress["compiled"] is None:
        print("fieldcrew report: its server report was not compiled by then", file=sys.stderr)
        return 1
    report = {"revision": progress["revision"], **progress["compiled"]}
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0


async def replay_projection(spec: str, schema: str, *, follow: bool) -> int:
    """``fieldcrew replay``: an analyst's projection into its own schema of the running
    system's PostgreSQL (``FIELDCREW_DATABASE_URL``); with ``follow``, until Ctrl-C."""
    try:
        projection = load_projection(spec)
        check_schema(schema)
    except ReplayError as exc:
        print(f"fieldcrew replay: {exc}", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    store = await _store()
    url = local.read_env()["FIELDCREW_DATABASE_URL"]
    pool = await asyncpg.create_pool(url, min_size=1, max_size=4)

    def reached(position: int) -> None:
        print(f"{schema}: applied up to sequence {position}", file=sys.stderr, flush=True)

    try:
        if follow:
            print(f"following the log into schema {schema}; Ctrl-C stops", file=sys.stderr)
        result = await replay(
            store, pool, projection, schema, follow=follow, stop=stop, reached=reached
        )
    finally:
        await pool.close()
        await store.nc.drain()
    print(
        f"{projection.name}: schema {result.schema} holds the log up to sequence"
        f" {result.position}; {result.dead_letters} dead letters"
    )
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


async def ensure_stream(replicas: int) -> int:
    """As the NATS admin: create the stream, or check it and update what could lose history;
    print what it is now. 1 when it cannot be made right (the reason is printed)."""
    store = await _store()
    try:
        await store.ensure_stream(replicas=replicas, update=True)
        info = await store.js.stream_info(store.stream)
    except StreamConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        await store.nc.drain()
    c = info.config
    print(
        f"stream {c.name}: subjects {c.subjects}, {c.num_replicas} replica(s), storage"
        f" {c.storage}, discard {c.discard}, no limits, deletes and purges denied;"
        f" {info.state.messages} events, last sequence {info.state.last_seq}"
    )
    return 0
