"""Where the live aggregator's time goes as the log grows (issue 4, "compile one report").

``python -m bench.diagnose_growth [EVENTS]`` (default 1,000,000; ~13 min at that size): on fresh
servers, fills the log to 10,000 events, then to EVENTS; at each size it rebuilds a projection
of its own, starts a live runner whose consumer begins at the end of the log, publishes 40 work
orders one by one and prints, as p50: the time from a work order's last event's ack to its
report compiled and announced, the time to apply a batch, to announce (after the batches
that compiled a revision; the others do not look), and from the last event's ack to the
runner handling the batch holding it. It found the growth fixed by ADR 0012. A diagnostic:
it wraps the runner's methods to time them, and writes nothing to ``bench/results``.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Sequence

import asyncpg
from fieldcrew_aggregator.projection import ServerReportProjection
from fieldcrew_aggregator.publisher import Announcer
from fieldcrew_shared.eventstore import EventStore, RawEvent, connect
from fieldcrew_shared.projection import ProjectionRunner
from fieldcrew_shared.rebuild import rebuild
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import api

from bench.env import BenchEnv
from bench.rebuild import Log, fill

WORK_ORDERS = 40


def _p50_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000 if values else float("nan")


async def probe(env: BenchEnv, nc: NATS, log: Log, label: str) -> None:
    store = EventStore(nc, source="fieldcrew/aggregator")
    pool = await asyncpg.create_pool(env.infra.database_url, min_size=2, max_size=4)
    projection = ServerReportProjection()
    projection.name = f"diag_{label}"
    started = time.perf_counter()
    built = await rebuild(store, pool, projection, switch=True)
    print(f"{label}: rebuilt {built.events:,} events in {time.perf_counter() - started:.0f} s")
    # no backlog: every compiled revision counts as announced, the consumer starts at the end
    await pool.execute(f"DELETE FROM {built.schema}.outbox")
    await pool.execute(f"VACUUM ANALYZE {built.schema}.outbox")
    await store.js.add_consumer(
        store.stream,
        api.ConsumerConfig(
            durable_name=projection.name,
            ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=api.DeliverPolicy.NEW,
            max_ack_pending=1024,
            ack_wait=60,
        ),
    )
    times: dict[str, list[float]] = {"apply": [], "announce": [], "delivered": []}
    watch = {"seq": 0, "acked": 0.0}

    announcer = Announcer(store, pool, projection)

    async def announce(schema: str) -> None:
        busy, t = projection.outboxed, time.perf_counter()
        await announcer(schema)
        if busy:  # after a batch that compiled nothing it does not look
            times["announce"].append(time.perf_counter() - t)

    runner = ProjectionRunner(store, pool, projection, after_commit=announce)
    await runner.setup()
    process, handle = runner.process, runner._handle

    async def timed_process(
        batch: Sequence[RawEvent], schema: str | None = None
    ) -> tuple[str, int]:
        t = time.perf_counter()
        result = await process(batch, schema)
        times["apply"].append(time.perf_counter() - t)
        return result

    async def timed_handle(msgs: list[Msg]) -> None:
        if any(m.metadata.sequence.stream == watch["seq"] for m in msgs):
            times["delivered"].append(time.perf_counter() - watch["acked"])
        await handle(msgs)

    runner.process = timed_process  # type: ignore[method-assign]
    runner._handle = timed_handle  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    js = nc.jetstream()
    compiled = []
    for _ in range(WORK_ORDERS):
        _, messages = log.mix.work_order()
        for n, m in enumerate(messages):
            if n == len(messages) - 1:
                watch["seq"] = await store.last_sequence() + 1
            ack = await js.publish(m.subject, m.body, headers={"Nats-Msg-Id": m.msg_id})
        watch["acked"] = t = time.perf_counter()
        async with asyncio.timeout(60):
            await runner.wait_for(ack.seq + 1)  # its ServerReportCompiled comes right after
        compiled.append(time.perf_counter() - t)
    stop.set()
    await task
    await pool.close()
    print(
        f"{label}: last ack -> compiled and announced p50 {_p50_ms(compiled):.1f} ms;"
        f" apply a batch {_p50_ms(times['apply']):.1f} ms ({len(times['apply'])} batches);"
        f" announce {_p50_ms(times['announce']):.1f} ms;"
        f" last event's batch handled {_p50_ms(times['delivered']):.1f} ms after its ack"
    )


async def main(env: BenchEnv, events: int) -> None:
    nc = await connect(env.infra.nats_url, name="bench-diagnose-growth")
    log = Log()
    await fill(nc, log, 1_000)
    await probe(env, nc, log, "10k")
    await fill(nc, log, events // 10 - 1_000)
    await probe(env, nc, log, f"{events // 1000}k")
    await nc.drain()


if __name__ == "__main__":
    with BenchEnv.start() as env:
        asyncio.run(main(env, int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
