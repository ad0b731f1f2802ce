"""6. Growth: the live aggregator service (its own process, as deployed) with a small and with
a large log behind it: its resident memory, the CPU it spends per event on a fixed probe of
new work orders, and the time from a work order's last event to its server report.

The CPU per event is taken on a probe published at a steady ``PACE``, which the aggregator
keeps up with at any size of the log. Published as fast as possible, the probe's cost per
event moved with the publishing rate (bigger batches when the aggregator lags behind): on the
same 11k-event log, 286-305 us an event at 2,500-2,900 events/s and 325-364 us at ~1,450
(issue 4). The unpaced probe still gives the catch-up rate, and its CPU is recorded too."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import asyncpg
from fieldcrew_shared.eventstore import EventStore, connect
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from bench.env import BenchEnv
from bench.memory import cpu_seconds, rss_mb
from bench.rebuild import Log, fill
from bench.stats import Results, Row, latency_ms
from bench.workload import interleaved

SECTION = "6 growth"
FLAT = "flat (<=1.25x)"
PACE = 1_000  # events/s: under what the live aggregator projects (~1,400-1,700 on 2 cores)


async def caught_up(nc: NATS, pool: asyncpg.Pool, within: float = 1800.0) -> float:
    """Wait until the live projection has committed the whole log (its announcements
    included); returns the seconds waited."""
    store = EventStore(nc, source="bench")
    started = time.perf_counter()
    async with asyncio.timeout(within):
        while True:
            live = await pool.fetchval("SELECT live FROM aggregator_meta.heads")
            position = await pool.fetchval(f"SELECT position FROM {live}.checkpoint")
            if position >= await store.last_sequence():
                return time.perf_counter() - started
            await asyncio.sleep(0.05)  # polling a position, bounded by the timeout above


@dataclass
class Probe:
    """The figures taken at one size of the log."""

    events_in_log: int = 0
    rss_mb: float = 0.0
    cpu_us_per_event: float = 0.0  # the probe published at PACE
    catch_up_events_per_s: float = 0.0
    unpaced_cpu_us_per_event: float = 0.0  # the probe published as fast as it goes
    unpaced_published_events_per_s: float = 0.0
    compile_s: list[float] = field(default_factory=list)


async def probe(env: BenchEnv, log: Log, *, orders: int, samples: int) -> Probe:
    """``orders`` new work orders as fast as they go (catch-up rate), ``orders`` more at
    ``PACE`` (CPU per event), then ``samples`` one at a time (time from the last event's ack
    to ``ServerReportCompiled`` on the bus)."""
    nc = await connect(env.infra.nats_url, name="bench-growth")
    pool = await asyncpg.create_pool(env.infra.database_url, min_size=1, max_size=2)
    store = EventStore(nc, source="bench")
    pid = env.pid("aggregator")
    try:
        await caught_up(nc, pool)
        result = Probe(events_in_log=await store.last_sequence())
        cpu, first = cpu_seconds(pid), result.events_in_log
        started = time.perf_counter()
        await fill(nc, log, orders)
        published = await store.last_sequence() - first
        result.unpaced_published_events_per_s = published / (time.perf_counter() - started)
        await caught_up(nc, pool)
        events = await store.last_sequence() - first
        result.catch_up_events_per_s = events / (time.perf_counter() - started)
        result.unpaced_cpu_us_per_event = (cpu_seconds(pid) - cpu) / events * 1e6
        cpu, first = cpu_seconds(pid), await store.last_sequence()
        await paced_fill(nc, log, orders, PACE)
        await caught_up(nc, pool)
        events = await store.last_sequence() - first
        result.cpu_us_per_event = (cpu_seconds(pid) - cpu) / events * 1e6
        result.compile_s = await _compile_times(nc, log, samples)
        result.rss_mb = rss_mb(pid)
        return result
    finally:
        await pool.close()
        await nc.drain()


async def paced_fill(nc: NATS, log: Log, orders: int, rate: float) -> None:
    """Publish ``orders`` more work orders (10 events each, interleaved as ``fill`` does) at
    ``rate`` events/s: each run of 50 waits for its due time on the event loop's clock."""
    js = nc.jetstream(timeout=30)
    loop = asyncio.get_running_loop()
    futures = []
    started, sent = loop.time(), 0
    for chunk in interleaved(log.mix, orders):
        for msg in chunk:
            headers = {"Nats-Msg-Id": msg.msg_id}
            futures.append(await js.publish_async(msg.subject, msg.body, headers=headers))
            sent += 1
            if sent % 50 == 0 and (due := started + sent / rate - loop.time()) > 0:
                await asyncio.sleep(due)  # pacing the load, not waiting for an outcome
    await js.publish_async_completed()
    failed = [f.exception() for f in futures if not f.cancelled() and f.exception()]
    if failed:
        raise RuntimeError(f"{len(failed)} publishes failed, first: {failed[0]!r}")
    log.work_orders += orders


async def _compile_times(nc: NATS, log: Log, samples: int) -> list[float]:
    js = nc.jetstream(timeout=30)
    arrived: dict[str, asyncio.Future[float]] = {}

    async def on_msg(msg: Msg) -> None:
        future = arrived.get(msg.subject.split(".")[2])
        if future is not None and not future.done():
            future.set_result(time.perf_counter())

    sub = await nc.subscribe("fieldcrew.aggregator.*.ServerReportCompiled", cb=on_msg)
    out = []
    try:
        for _ in range(samples):
            wo, messages = log.mix.work_order()
            arrived[str(wo)] = asyncio.get_running_loop().create_future()
            for m in messages:
                await js.publish(m.subject, m.body, headers={"Nats-Msg-Id": m.msg_id})
            sent = time.perf_counter()
            async with asyncio.timeout(60):
                out.append(await arrived[str(wo)] - sent)
        log.work_orders += samples
    finally:
        await sub.unsubscribe()
    return out


def report(results: Results, small: Probe, large: Probe) -> None:
    """Rows comparing the large log with the small one (flat = ratio near 1)."""
    results.record(SECTION, "small_log", small.__dict__ | {"compile": latency_ms(small.compile_s)})
    results.record(SECTION, "large_log", large.__dict__ | {"compile": latency_ms(large.compile_s)})
    at = f"at {small.events_in_log // 1000}k"
    big = f"{large.events_in_log // 1000}k events"
    results.add(Row(SECTION, f"aggregator RSS, {big} vs {at}", large.rss_mb, "MB",
                    small.rss_mb, at, FLAT, _flat(large.rss_mb, small.rss_mb)))  # fmt: skip
    results.add(Row(SECTION, f"aggregator CPU per event at {PACE:,}/s, {big} vs {at}",
                    large.cpu_us_per_event, "us", small.cpu_us_per_event, at, FLAT,
                    _flat(large.cpu_us_per_event, small.cpu_us_per_event)))  # fmt: skip
    results.add(Row(SECTION, f"aggregator CPU per event, unpaced, {big} vs {at}",
                    large.unpaced_cpu_us_per_event, "us", small.unpaced_cpu_us_per_event,
                    at))  # fmt: skip
    results.add(Row(SECTION, f"live catch-up of a probe, {big} vs {at}",
                    large.catch_up_events_per_s, "events/s",
                    small.catch_up_events_per_s, at))  # fmt: skip
    small_ms, large_ms = latency_ms(small.compile_s), latency_ms(large.compile_s)
    results.add(Row(SECTION, f"compile one report p50, {big} vs {at}", large_ms["p50_ms"],
                    "ms", small_ms["p50_ms"], at, FLAT,
                    _flat(large_ms["p50_ms"], small_ms["p50_ms"])))  # fmt: skip


def _flat(large: float, small: float) -> bool:
    return large <= 1.25 * small
