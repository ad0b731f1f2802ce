"""The floor under the crew flow: the raw operations a work order cannot do without, timed at
the same concurrency in the same run. Per work order: 10 HTTP round trips to a trivial
endpoint (the gateway's ``/healthz``), 11 JetStream publishes (its 10 events and the
``ServerReportCompiled``), 4 S3 puts of ~50 KB and 2 PostgreSQL inserts (its projection row
and its report), each insert its own committed transaction."""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import Awaitable, Callable
from uuid import uuid4

import asyncpg
import httpx
import urllib3
from fieldcrew_shared.eventstore import connect
from minio import Minio
from nats.js import api

from bench.env import KEEPALIVE, BenchEnv
from bench.workload import SealedMix, jpeg, variant

PER_ORDER = {"http": 10, "publish": 11, "s3_put": 4, "pg_insert": 2}
RAW_BUCKET = "bench-raw"
FLOOR_STREAM = api.StreamConfig(
    name="BENCH_FLOOR", subjects=["benchfieldcrew.>"], storage=api.StorageType.FILE,
    duplicate_window=120.0, allow_direct=True,
)  # fmt: skip


async def timed(
    count: int, width: int, op: Callable[[int], Awaitable[None]]
) -> tuple[float, list[float]]:
    """Run ``op(0..count-1)`` with ``width`` in flight; (seconds, latencies)."""
    latencies: list[float] = []
    numbers = iter(range(count))

    async def worker() -> None:
        for n in numbers:
            started = time.perf_counter()
            await op(n)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(width)))
    return time.perf_counter() - started, latencies


def minio_client(env: BenchEnv) -> Minio:
    infra = env.infra
    http = urllib3.PoolManager(maxsize=32, timeout=urllib3.Timeout(connect=5, read=60))
    return Minio(
        infra.s3_endpoint, infra.s3_access_key, infra.s3_secret_key,
        secure=infra.s3_secure, region="us-east-1", http_client=http,
    )  # fmt: skip


def ensure_bucket(client: Minio) -> None:
    """The raw bucket, written to once: SeaweedFS lays out a new bucket's volumes at its first
    write (0.2 s on a quiet machine, seconds on a busy one), which is not a put's cost."""
    if not client.bucket_exists(RAW_BUCKET):
        client.make_bucket(RAW_BUCKET, location="us-east-1")
        s3_put(client, b"")


def s3_put(client: Minio, data: bytes) -> None:
    client.put_object(
        RAW_BUCKET, f"raw/{uuid4()}", io.BytesIO(data), length=len(data),
        content_type="image/jpeg", part_size=max(len(data), 5 * 2**20),
    )  # fmt: skip


async def measure(env: BenchEnv, orders: int, width: int) -> dict[str, tuple[float, list[float]]]:
    """Each kind of raw operation, ``PER_ORDER[kind] * orders`` times; kind -> (s, latencies)."""
    out: dict[str, tuple[float, list[float]]] = {}
    # one client a worker, as the crew flow has one a crew (a pool of many connections costs
    # httpcore more CPU on every request, which is not the I/O this floor is about)
    limits = httpx.Limits(max_connections=1, keepalive_expiry=KEEPALIVE)
    async with contextlib.AsyncExitStack() as stack:
        idle = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=env.gateway, limits=limits))
            for _ in range(width)
        ]

        async def get(_: int) -> None:
            http = idle.pop()
            try:
                (await http.get("/healthz")).raise_for_status()
            finally:
                idle.append(http)

        out["http"] = await timed(PER_ORDER["http"] * orders, width, get)
    out["publish"] = await _publish(env, PER_ORDER["publish"] * orders, width)
    client = minio_client(env)
    await asyncio.to_thread(ensure_bucket, client)
    photo = jpeg((400, 300), 80)
    photos = [variant(photo, n) for n in range(PER_ORDER["s3_put"] * orders)]

    async def put(n: int) -> None:
        await asyncio.to_thread(s3_put, client, photos[n])

    out["s3_put"] = await timed(len(photos), width, put)
    out["pg_insert"] = await _insert(env, PER_ORDER["pg_insert"] * orders, width)
    return out


async def _publish(env: BenchEnv, count: int, width: int) -> tuple[float, list[float]]:
    """Into a stream of its own on the same server (same storage, same fsync), so that no
    consumer of the log sees these messages."""
    mix = SealedMix(seed=99)
    messages = [m for _ in range(count // 10 + 1) for m in mix.work_order()[1]]
    nc = await connect(env.infra.nats_url, name="bench-floor")
    js = nc.jetstream(timeout=30)
    await js.add_stream(FLOOR_STREAM)

    async def publish(n: int) -> None:
        m = messages[n]
        await js.publish("bench" + m.subject, m.body, headers={"Nats-Msg-Id": m.msg_id})

    try:
        return await timed(count, width, publish)
    finally:
        await nc.drain()


async def _insert(env: BenchEnv, count: int, width: int) -> tuple[float, list[float]]:
    body = jpeg((8, 8), 80).hex() * 4  # a few KB of text, like a progress document
    size = min(width, 20)
    pool = await asyncpg.create_pool(env.infra.database_url, min_size=size, max_size=size)
    try:
        await pool.execute(
            "CREATE TABLE IF NOT EXISTS bench_floor (id uuid PRIMARY KEY, state jsonb NOT NULL)"
        )

        async def insert(_: int) -> None:
            await pool.execute(
                "INSERT INTO bench_floor VALUES ($1, $2::jsonb)", uuid4(), f'{{"b": "{body}"}}'
            )

        return await timed(count, width, insert)
    finally:
        await pool.close()
