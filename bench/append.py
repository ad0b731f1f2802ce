"""1. Append: our event store (seal, validate, ``Nats-Msg-Id``, expected-sequence headers)
next to raw nats-py JetStream publishes of the same kind of bytes with the same headers."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from uuid import uuid4

from fieldcrew_shared.envelope import encode, seal
from fieldcrew_shared.eventstore import EventStore, connect
from nats.js import JetStreamContext

from bench.env import BenchEnv
from bench.stats import Results, Row, latency_ms, median
from bench.workload import SOURCES, Step, crew_flow, people, random_crew

SECTION = "1 append"
IN_FLIGHT = 64


@dataclass(frozen=True)
class Raw:
    """A pre-sealed message and its headers but the expected sequence (known at send time)."""

    subject: str
    aggregate: str
    body: bytes
    msg_id: str


def work_orders(count: int, seed: int) -> list[list[Step]]:
    rng, pool = random.Random(seed), people()
    return [crew_flow(uuid4(), random_crew(pool, rng), rng) for _ in range(count)]


def as_raw(orders: list[list[Step]]) -> list[list[Raw]]:
    """The same shapes sealed ahead of time (raw publishing does no envelope work)."""
    out = []
    for steps in orders:
        sealed = [(s, seal(s.event, s.meta, source=s.source)) for s in steps]
        out.append([Raw(s.event.subject, s.aggregate, encode(e), e.id) for s, e in sealed])
    return out


Send = Callable[[object, dict[str, int]], Awaitable[None]]


async def _play(
    orders: Sequence[Sequence[object]], send: Send, width: int
) -> tuple[float, list[float]]:
    """Send every order's events in order, ``width`` orders at a time; wall time, latencies."""
    latencies: list[float] = []
    queue = list(reversed(orders))

    async def worker() -> None:
        while queue:
            versions: dict[str, int] = {}
            for item in queue.pop():
                started = time.perf_counter()
                await send(item, versions)
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(width)))
    return time.perf_counter() - started, latencies


async def _alternating(
    sides: list[tuple[str, Sequence[Sequence[object]], Send]], rep: int
) -> dict[str, tuple[float, list[float]]]:
    """One at a time, the sides taking turns work order by work order, so that both meet the
    same moments of a shared, noisy machine (in blocks, the ratio swung from 0.75x to 0.94x
    between runs); each side's time is the sum of its own appends."""
    timed: dict[str, tuple[float, list[float]]] = {name: (0.0, []) for name, _, _ in sides}
    order = sides if rep % 2 else list(reversed(sides))
    for n in range(len(sides[0][1])):
        for name, orders, send in order:
            versions: dict[str, int] = {}
            seconds, latencies = timed[name]
            for item in orders[n]:
                started = time.perf_counter()
                await send(item, versions)
                latencies.append(time.perf_counter() - started)
                seconds += latencies[-1]
            timed[name] = (seconds, latencies)
    return timed


def ours(stores: dict[str, EventStore]) -> Send:
    async def send(item: object, versions: dict[str, int]) -> None:
        assert isinstance(item, Step)
        appended = await stores[item.event.context].append(
            item.event,
            item.meta,
            expected_version=versions.get(item.aggregate, 0),
            aggregate=item.aggregate,
        )
        versions[item.aggregate] = appended.seq

    return send


def raw(js: JetStreamContext, use_async: bool) -> Send:
    async def send(item: object, versions: dict[str, int]) -> None:
        assert isinstance(item, Raw)
        headers = {
            "Nats-Msg-Id": item.msg_id,
            "Nats-Expected-Last-Subject-Sequence": str(versions.get(item.aggregate, 0)),
            "Nats-Expected-Last-Subject-Sequence-Subject": item.aggregate,
        }
        if use_async:
            future = await js.publish_async(
                item.subject, item.body, stream="FIELDCREW", headers=headers
            )
            ack = await future
        else:
            ack = await js.publish(item.subject, item.body, stream="FIELDCREW", headers=headers)
        versions[item.aggregate] = ack.seq

    return send


async def run(env: BenchEnv, results: Results, *, orders: int, reps: int) -> None:
    """One at a time and ``IN_FLIGHT`` work orders at once, ours and raw interleaved."""
    nc = await connect(env.infra.nats_url, name="bench-append")
    try:
        stores = {ctx: EventStore(nc, source=src) for ctx, src in SOURCES.items()}
        await stores["dispatch"].ensure_stream()
        js = nc.jetstream(timeout=10)
        for mode, width, count in (("one at a time", 1, orders), ("in flight", IN_FLIGHT, 0)):
            count = count or orders * 2
            await _compare(results, mode, width, count, reps, ours(stores), js)
    finally:
        await nc.drain()


async def _compare(
    results: Results, mode: str, width: int, count: int, reps: int, our_send: Send, js: object
) -> None:
    assert isinstance(js, JetStreamContext)
    raw_send = raw(js, use_async=width > 1)
    rates: dict[str, list[float]] = {"ours": [], "raw": []}
    lat: dict[str, list[float]] = {"ours": [], "raw": []}
    for rep in range(reps + 1):  # rep 0 warms both paths up and is not counted
        ours_orders = work_orders(count, seed=rep)
        raw_orders = as_raw(work_orders(count, seed=1000 + rep))
        sides: list[tuple[str, Sequence[Sequence[object]], Send]] = [
            ("ours", ours_orders, our_send),
            ("raw", raw_orders, raw_send),
        ]
        if width == 1:
            timed = await _alternating(sides, rep)
        else:
            timed = {name: await _play(items, send, width) for name, items, send in
                     (sides if rep % 2 else reversed(sides))}  # fmt: skip
        if rep:
            for name, (seconds, latencies) in timed.items():
                rates[name].append(count * 10 / seconds)
                lat[name] += latencies
    _report(results, mode, width, rates, lat)


def _report(
    results: Results,
    mode: str,
    width: int,
    rates: dict[str, list[float]],
    lat: dict[str, list[float]],
) -> None:
    ours_rate, raw_rate = median(rates["ours"]), median(rates["raw"])
    key = mode.replace(" ", "_")
    results.record(SECTION, key, {
        "in_flight": width, "rates_ours": rates["ours"], "rates_raw": rates["raw"],
        "latency_ours": latency_ms(lat["ours"]), "latency_raw": latency_ms(lat["raw"]),
    })  # fmt: skip
    met = ours_rate >= 0.8 * raw_rate
    results.add(Row(SECTION, f"append {mode} ({width} in flight)", ours_rate, "events/s",
                    raw_rate, "raw", ">=0.8x raw", met))  # fmt: skip
    ours_ms, raw_ms = latency_ms(lat["ours"]), latency_ms(lat["raw"])
    for q in ("p50_ms", "p99_ms"):
        results.add(Row(SECTION, f"append {mode} latency {q[:3]}", ours_ms[q], "ms",
                        raw_ms[q], "raw"))  # fmt: skip
