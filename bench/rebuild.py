"""2. Projection rebuild: the aggregator replaying the whole log into a fresh schema
(``fieldcrew_shared.rebuild.rebuild``, no switch-over) next to a raw ordered-consumer read of
the same stream; and the fill that puts the realistic mix into the log."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import nats
from fieldcrew_aggregator.projection import ServerReportProjection
from fieldcrew_shared.eventstore import EventStore, connect
from fieldcrew_shared.rebuild import rebuild
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from bench.env import BenchEnv
from bench.stats import Results, Row, median
from bench.workload import EVENTS_PER_WORK_ORDER, SealedMix, interleaved

SECTION = "2 rebuild"


@dataclass
class Log:
    """What the bench put into the log, so that a rebuild's rows can be checked."""

    mix: SealedMix = field(default_factory=SealedMix)
    work_orders: int = 0
    filled_seconds: float = 0.0
    filled_events: int = 0


async def fill(nc: NATS, log: Log, work_orders: int) -> None:
    """Publish ``work_orders`` more work orders (10 events each) with ``publish_async``."""
    js = nc.jetstream(timeout=30)
    failed: list[BaseException] = []

    def check(future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and (error := future.exception()) is not None:
            failed.append(error)

    started = time.perf_counter()
    for chunk in interleaved(log.mix, work_orders):
        for msg in chunk:
            future = await js.publish_async(
                msg.subject, msg.body, headers={"Nats-Msg-Id": msg.msg_id}
            )
            future.add_done_callback(check)
    await js.publish_async_completed()
    if failed:
        raise RuntimeError(f"{len(failed)} publishes failed, first: {failed[0]!r}")
    log.filled_seconds += time.perf_counter() - started
    log.filled_events += work_orders * EVENTS_PER_WORK_ORDER
    log.work_orders += work_orders


async def raw_read(nc: NATS) -> tuple[int, float]:
    """Read the whole stream with an ordered push consumer; (messages, seconds). ``nc`` is
    plain nats-py's client (``nats.connect``), not ours with its quicker header parsing."""
    store = EventStore(nc, source="bench")
    last = await store.last_sequence()
    done = asyncio.Event()
    count = 0

    async def on_msg(msg: Msg) -> None:
        nonlocal count
        count += 1
        if msg.metadata.sequence.stream >= last:
            done.set()

    started = time.perf_counter()
    # nats-py's buffers unbounded: the server pushes faster than nats-py hands messages on,
    # and with the default limits a million-event read drops messages (slow consumer)
    sub = await nc.jetstream().subscribe(
        "fieldcrew.>", cb=on_msg, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL,
        pending_msgs_limit=0, pending_bytes_limit=0,
    )  # fmt: skip
    try:
        async with asyncio.timeout(600):
            await done.wait()
    finally:
        await sub.unsubscribe()
    return count, time.perf_counter() - started


async def our_rebuild(nc: NATS, pool: asyncpg.Pool, log: Log) -> tuple[int, float, dict[str, int]]:
    """Rebuild into a fresh schema; (events, seconds, row check). Drops the schema after."""
    store = EventStore(nc, source="bench")
    result = await rebuild(store, pool, ServerReportProjection(), switch=False)
    try:
        check = await rows_check(pool, result.schema)
    finally:
        await pool.execute(f"DROP SCHEMA {result.schema} CASCADE")
    return result.events, result.seconds, check


async def profile(env: BenchEnv, log: Log, into: Path) -> None:
    """One more rebuild, not counted, under pyinstrument; its report as text in ``into``."""
    from pyinstrument import Profiler

    nc = await connect(env.infra.nats_url, name="bench-rebuild-profile")
    pool = await asyncpg.create_pool(env.infra.database_url, min_size=1, max_size=4)
    profiler = Profiler(async_mode="enabled")
    try:
        profiler.start()
        await our_rebuild(nc, pool, log)
        profiler.stop()
        text = profiler.output_text(color=False, unicode=False, show_all=False)
        await asyncio.to_thread(into.write_text, text)
    finally:
        await pool.close()
        await nc.drain()


async def rows_check(pool: asyncpg.Pool, schema: str) -> dict[str, int]:
    row = await pool.fetchrow(
        f"SELECT count(*) FILTER (WHERE issued_at IS NOT NULL) AS work_orders,"
        f" count(*) FILTER (WHERE status = 'completed') AS completed,"
        f" count(*) FILTER (WHERE status <> 'completed') AS not_completed,"
        f" (SELECT count(*) FROM {schema}.server_reports) AS reports,"
        f" (SELECT count(*) FROM {schema}.dead_letters) AS dead_letters"
        f" FROM {schema}.progress"
    )
    assert row is not None
    return dict(row)


async def run(env: BenchEnv, results: Results, log: Log, *, reps: int) -> None:
    """Our rebuild and the raw read, interleaved ``reps`` times over the same log."""
    nc = await connect(env.infra.nats_url, name="bench-rebuild")
    raw_nc = await nats.connect(env.infra.nats_url, name="bench-rebuild-raw")
    pool = await asyncpg.create_pool(env.infra.database_url, min_size=1, max_size=4)
    ours: list[float] = []
    raw: list[float] = []
    checks: list[dict[str, int]] = []
    counts: list[int] = []  # messages the raw read received (all of them: nothing dropped)
    events = 0
    try:
        for rep in range(reps):
            for side in ("ours", "raw") if rep % 2 == 0 else ("raw", "ours"):
                if side == "raw":
                    count, seconds = await raw_read(raw_nc)
                    raw.append(count / seconds)
                    counts.append(count)
                else:
                    events, seconds, check = await our_rebuild(nc, pool, log)
                    ours.append(events / seconds)
                    checks.append(check)
    finally:
        await pool.close()
        await nc.drain()
        await raw_nc.drain()
    results.record(SECTION, "raw_read_messages", counts)
    _report(results, log, events, ours, raw, checks)


def _report(
    results: Results,
    log: Log,
    events: int,
    ours: list[float],
    raw: list[float],
    checks: list[dict[str, int]],
) -> None:
    rate = median(ours)
    seconds = events / rate
    right = all(
        c["not_completed"] == 0 and c["completed"] >= log.work_orders and c["dead_letters"] == 0
        for c in checks
    )
    results.record(SECTION, "rebuild", {
        "events_in_log": events, "work_orders_filled": log.work_orders,
        "fill_events_per_s": log.filled_events / log.filled_seconds if log.filled_seconds else 0,
        "rates_ours": ours, "rates_raw_read": raw, "seconds_median": seconds,
        "row_checks": checks, "rows_right": right,
    })  # fmt: skip
    results.add(Row(SECTION, f"rebuild {events:,} events", rate, "events/s",
                    median(raw), "raw read"))  # fmt: skip
    goal = "< 60 s for 1M" if events >= 1_000_000 else "< 60 s for 1M (scaled)"
    scaled = seconds * 1_000_000 / events if events else float("nan")
    results.add(Row(SECTION, "rebuild time (scaled to 1M events)", scaled, "s", None, "",
                    goal, scaled < 60))  # fmt: skip
    results.add(Row(SECTION, "rebuild rows right (every work order compiled)", float(right),
                    "1 = yes", None, "", "all compiled", right))  # fmt: skip
