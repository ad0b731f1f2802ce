"""The projection runner against real NATS and PostgreSQL: exactly-once effects, poison
events set aside, rebuild into a fresh schema."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from uuid import UUID, uuid4

import asyncpg
import pytest
from fieldcrew_cli.servers import Infra
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.events import MemberNoteAdded, subject_for
from fieldcrew_shared.eventstore import EventStore, Recorded, connect
from fieldcrew_shared.projection import ProjectionRunner
from fieldcrew_shared.rebuild import rebuild
from fieldcrew_shared.supervision import Supervised

from tests.unit.factories import note

META = Metadata(actor="max", actorrole="technician", correlationid="c-1")


class LabourTotals:
    """A toy projection: labour minutes per author. Adding is not idempotent by itself, so a
    twice-applied event would show."""

    def __init__(self) -> None:
        self.name = f"labour_{uuid4().hex[:10]}"

    def ddl(self, schema: str) -> str:
        return f"CREATE TABLE IF NOT EXISTS {schema}.totals (author text PRIMARY KEY, m int)"

    async def apply(
        self, conn: asyncpg.Connection, schema: str, records: Sequence[Recorded]
    ) -> None:
        for r in records:
            assert isinstance(r.event, MemberNoteAdded)
            if r.event.labour_minutes < 0:
                raise ValueError("negative labour")
            await conn.execute(
                f"INSERT INTO {schema}.totals VALUES ($1, $2)"
                f" ON CONFLICT (author) DO UPDATE SET m = {schema}.totals.m + excluded.m",
                r.event.author,
                r.event.labour_minutes,
            )


@pytest.fixture
async def store(infra: Infra) -> AsyncIterator[EventStore]:
    nc = await connect(infra.nats_url, name="test-projection")
    store = EventStore(nc, source="fieldcrew/team")
    await store.ensure_stream()
    yield store
    await nc.drain()


@pytest.fixture
async def pool(infra: Infra) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(infra.database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


async def totals(pool: asyncpg.Pool, schema: str) -> dict[str, int]:
    return dict(await pool.fetch(f"SELECT author, m FROM {schema}.totals"))


async def fill(store: EventStore, wo: UUID, minutes: list[int]) -> list[int]:
    return [(await store.append(note(wo, "max", minutes=m), META)).seq for m in minutes]


async def test_a_redelivered_batch_changes_nothing(store: EventStore, pool: asyncpg.Pool) -> None:
    wo = uuid4()
    await fill(store, wo, [10, 20, 30])
    runner = ProjectionRunner(store, pool, LabourTotals(), filter_subject=subject_for("team", wo))
    await runner.setup()
    batch = await store.read(runner.filter_subject, 1)
    await runner.process(batch)
    await runner.process(batch)
    await runner.process(batch[1:])
    assert await totals(pool, runner.schema) == {"max": 60}


async def test_poison_events_are_dead_lettered_and_processing_goes_on(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    wo = uuid4()
    await fill(store, wo, [5])
    await store.nc.publish(subject_for("team", wo, "MemberNoteAdded"), b"{not json")
    bad = note(wo, "max", minutes=1).model_copy(update={"labour_minutes": -1})
    await store.append(bad, META)
    await fill(store, wo, [7])
    await store.nc.flush()
    runner = ProjectionRunner(store, pool, LabourTotals(), filter_subject=subject_for("team", wo))
    await runner.setup()
    await runner.process(await store.read(runner.filter_subject, 1))
    assert await totals(pool, runner.schema) == {"max": 12}
    reasons = [
        r["reason"]
        for r in await pool.fetch(f"SELECT reason FROM {runner.schema}.dead_letters ORDER BY seq")
    ]
    assert len(reasons) == 2
    assert "not a fieldcrew CloudEvent" in reasons[0] and "negative labour" in reasons[1]


async def test_the_durable_consumer_applies_new_events_exactly_once(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    wo = uuid4()
    runner = ProjectionRunner(store, pool, LabourTotals(), filter_subject=subject_for("team", wo))
    await runner.setup()
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    seqs = await fill(store, wo, [1, 2, 3, 4])
    async with asyncio.timeout(20):
        await runner.wait_for(seqs[-1])
    stop.set()
    await task
    assert await totals(pool, runner.schema) == {"max": 10}


class TotalsWithABug(LabourTotals):
    """The toy projection with a bug of its own: a note with no parts looks up a part."""

    async def apply(
        self, conn: asyncpg.Connection, schema: str, records: Sequence[Recorded]
    ) -> None:
        for r in records:
            assert isinstance(r.event, MemberNoteAdded)
            if r.event.author == "kim":
                _ = {part.part_no: part for part in r.event.parts}["P-1"]  # KeyError
        await super().apply(conn, schema, records)


async def test_a_bug_met_applying_one_event_dead_letters_it_and_the_rest_goes_on(
    store: EventStore, pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    wo = uuid4()
    projection = TotalsWithABug()
    runner = ProjectionRunner(store, pool, projection, filter_subject=subject_for("team", wo))
    await runner.setup()
    stop = asyncio.Event()
    task = Supervised("projection", lambda: runner.run(stop), on_stop=stop.set)
    task.start()
    await fill(store, wo, [1, 2])
    bug = (await store.append(note(wo, "kim", minutes=100), META)).seq
    seqs = await fill(store, wo, [4, 8])
    async with asyncio.timeout(20):
        await runner.wait_for(seqs[-1])
    await task.stop()
    assert task.failures == 0  # never down: the event was set aside, not the runner
    assert await totals(pool, runner.schema) == {"max": 15}
    rows = await pool.fetch(f"SELECT seq, reason FROM {runner.schema}.dead_letters")
    assert [(r["seq"], r["reason"]) for r in rows] == [(bug, "KeyError: 'P-1'")]
    logged = [r for r in caplog.records if r.getMessage() == "applying an event failed"]
    assert logged and logged[0].exc_info is not None  # with the traceback that shows the bug


async def test_events_held_by_a_replica_that_died_are_not_skipped(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    """A replica takes a delivery from the durable consumer and dies before acking; JetStream
    redelivers those only after ack_wait (60 s) and hands the next runner the newer events
    first. The runner must not store a position past events it never applied."""
    wo = uuid4()
    projection = LabourTotals()
    runner = ProjectionRunner(store, pool, projection, filter_subject=subject_for("team", wo))
    await runner.setup()
    await fill(store, wo, [1, 2])
    dead = await store.js.pull_subscribe(
        runner.filter_subject,
        durable=projection.name,
        stream=store.stream,
        config=runner.consumer_config(),
    )
    held = await dead.fetch(2, timeout=5)
    assert len(held) == 2  # delivered, never acked: the replica is gone
    seqs = await fill(store, wo, [4, 8])
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    async with asyncio.timeout(20):
        await runner.wait_for(seqs[-1])
    stop.set()
    await task
    assert await totals(pool, runner.schema) == {"max": 15}


async def test_two_runners_on_one_consumer_apply_every_event_once(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    """Two replicas of a service share the durable consumer, each getting part of the
    events: together they apply each event exactly once, in order."""
    wo = uuid4()
    projection = LabourTotals()
    runners = [
        ProjectionRunner(store, pool, projection, filter_subject=subject_for("team", wo), batch=3)
        for _ in range(2)
    ]
    for r in runners:
        await r.setup()
    stop = asyncio.Event()
    tasks = [asyncio.create_task(r.run(stop)) for r in runners]
    minutes = list(range(1, 41))
    seqs = await fill(store, wo, minutes)
    waits = [asyncio.create_task(r.wait_for(seqs[-1])) for r in runners]
    async with asyncio.timeout(20):  # the stored position is the truth: one reaching it is enough
        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for w in pending:
        w.cancel()
    stop.set()
    await asyncio.gather(*tasks)
    assert await totals(pool, runners[0].schema) == {"max": sum(minutes)}


async def test_rebuild_gives_what_the_live_projection_has(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    wo = uuid4()
    projection = LabourTotals()
    runner = ProjectionRunner(store, pool, projection, filter_subject=subject_for("team", wo))
    await runner.setup()
    await fill(store, wo, [3, 4])
    await runner.process(await store.read(runner.filter_subject, 1))
    live = await totals(pool, runner.schema)
    # rebuild reads the whole stream; the toy projection only wants this work order's events
    runner_filter = subject_for("team", wo)
    result = await rebuild(store, pool, _Only(projection, runner_filter), switch=True)
    assert result.previous == runner.schema and result.schema != runner.schema
    assert await totals(pool, result.schema) == live == {"max": 7}
    await runner.setup()
    assert runner.schema == result.schema


class _Only:
    """The toy projection, ignoring events of other work orders (rebuild replays all)."""

    def __init__(self, inner: LabourTotals, subject_filter: str) -> None:
        self.inner, self.name = inner, inner.name
        self.prefix = subject_filter.removesuffix(">")

    def ddl(self, schema: str) -> str:
        return self.inner.ddl(schema)

    async def apply(
        self, conn: asyncpg.Connection, schema: str, records: Sequence[Recorded]
    ) -> None:
        mine = [r for r in records if r.event.subject.startswith(self.prefix)]
        await self.inner.apply(conn, schema, mine)


async def test_a_rebuild_sets_poison_events_aside_as_the_live_runner_does(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    """A replay decodes events ahead of applying them (bench/README.md); a poison event is still
    dead-lettered on its own, with its reason, and the events around it are applied."""
    wo = uuid4()
    await fill(store, wo, [5])
    subject = subject_for("team", wo, "MemberNoteAdded")
    garbage = await store.js.publish(subject, b"{not json")
    bad = note(wo, "max", minutes=1).model_copy(update={"labour_minutes": -1})
    negative = await store.append(bad, META)
    await fill(store, wo, [7])
    projection = _Only(LabourTotals(), subject_for("team", wo))
    result = await rebuild(store, pool, projection, switch=False)
    assert await totals(pool, result.schema) == {"max": 12}
    rows = await pool.fetch(
        f"SELECT seq, reason FROM {result.schema}.dead_letters WHERE seq = ANY($1::bigint[])"
        " ORDER BY seq",
        [garbage.seq, negative.seq],
    )
    assert [r["seq"] for r in rows] == [garbage.seq, negative.seq]
    assert "not a fieldcrew CloudEvent" in rows[0]["reason"]
    assert "negative labour" in rows[1]["reason"]
