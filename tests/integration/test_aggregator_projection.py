"""The server-report projection on a real PostgreSQL: any order, any redelivery, one report."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator, Iterator
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from fieldcrew_aggregator.projection import ServerReportProjection
from fieldcrew_aggregator.publisher import Announcer, publish_pending
from fieldcrew_cli.servers import Infra
from fieldcrew_documents import reports as documents
from fieldcrew_shared.envelope import Metadata, seal
from fieldcrew_shared.events import (
    Event,
    ServerReportCompiled,
    ServerReportPart,
    report_summary,
    subject_for,
)
from fieldcrew_shared.eventstore import EventStore, Recorded, connect
from fieldcrew_shared.health import NotReadyError
from fieldcrew_shared.projection import create_schema
from fieldcrew_shared.supervision import Backoff, Supervised
from nats.aio.msg import Msg

from tests.unit.factories import issued, note, photo, report

CREW = ("lead", "m1", "m2", "m3")


def crew_flow_records() -> list[Recorded]:
    wo = uuid4()
    notes = [note(wo, who, parts=(("P-1", 1),)) for who in CREW]
    events: list[Event] = [issued(wo), *notes, report(wo, "lead", tuple(n.note_id for n in notes))]
    events += [photo(wo, who, sha=f"{i:064x}") for i, who in enumerate(CREW)]
    meta = Metadata(actor="x", actorrole="technician", correlationid="c")
    return [
        Recorded(seq, seal(e, meta, source="tests"), e) for seq, e in enumerate(events, start=1)
    ]


@pytest.fixture
async def pool(infra: Infra) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(infra.database_url, min_size=1, max_size=2)
    yield pool
    await pool.close()


async def project_into(
    pool: asyncpg.Pool,
    batches: list[list[Recorded]],
    schema: str | None = None,
    projection: ServerReportProjection | None = None,
) -> str:
    projection = projection or ServerReportProjection()
    schema = schema or f"agg_test_{uuid4().hex[:10]}"
    async with pool.acquire() as conn:
        await create_schema(conn, projection, schema)
        for batch in batches:
            async with conn.transaction():
                await projection.apply(conn, schema, batch)
    return schema


async def project(pool: asyncpg.Pool, batches: list[list[Recorded]]) -> list[dict[str, object]]:
    schema = await project_into(pool, batches)
    rows = await pool.fetch(f"SELECT report FROM {schema}.server_reports ORDER BY revision")
    return [json.loads(r["report"]) for r in rows]


async def test_replayed_twice_and_shuffled_gives_one_identical_report(pool: asyncpg.Pool) -> None:
    records = crew_flow_records()
    in_order = await project(pool, [records])
    rng = random.Random(11)
    shuffled = records * 2
    rng.shuffle(shuffled)
    one_by_one = await project(pool, [[r] for r in shuffled])
    in_small_batches = await project(pool, [shuffled[i : i + 3] for i in range(0, 18, 3)])
    assert len(in_order) == len(one_by_one) == len(in_small_batches) == 1
    assert in_order[0] == one_by_one[0] == in_small_batches[0]
    assert len(in_order[0]["photos"]) == 4  # type: ignore[arg-type]


async def test_one_batch_gives_what_one_event_at_a_time_gives(pool: asyncpg.Pool) -> None:
    records = crew_flow_records()
    late = photo(records[0].event.work_order_id, "m2", sha="e" * 64)
    meta = Metadata(actor="x", actorrole="technician", correlationid="c")
    records.append(Recorded(99, seal(late, meta, source="tests"), late))
    assert await project(pool, [records]) == await project(pool, [[r] for r in records])
    assert len(await project(pool, [records])) == 2  # revision 1, then the late photo's 2


def announcement(wo: UUID, revision: int, seq: int) -> Recorded:
    event = ServerReportCompiled(work_order_id=wo, revision=revision)
    meta = Metadata(actor="fieldcrew-aggregator", actorrole="system", correlationid=str(wo))
    return Recorded(seq, seal(event, meta, source="tests"), event)


async def outbox(pool: asyncpg.Pool, schema: str) -> set[tuple[UUID, int]]:
    rows = await pool.fetch(f"SELECT work_order_id, revision FROM {schema}.outbox")
    return {(r["work_order_id"], r["revision"]) for r in rows}


async def test_a_revision_waits_in_the_outbox_until_its_announcement_is_read_back(
    pool: asyncpg.Pool,
) -> None:
    records = crew_flow_records()
    wo = records[0].event.work_order_id
    schema = await project_into(pool, [records])
    assert await outbox(pool, schema) == {(wo, 1)}
    await project_into(pool, [[announcement(wo, 1, 20)]], schema)
    assert await outbox(pool, schema) == set()
    # a replay that meets the compile and its announcement in one batch leaves nothing behind
    replayed = await project_into(pool, [[*records, announcement(wo, 1, 20)]])
    assert await outbox(pool, replayed) == set()


@pytest.fixture
async def announcing(infra: Infra) -> AsyncIterator[EventStore]:
    nc = await connect(infra.nats_url, name="test-announcer")
    store = EventStore(nc, source="fieldcrew/aggregator")
    await store.ensure_stream()
    yield store
    await nc.drain()


async def test_every_waiting_revision_is_announced_once_in_the_order_it_compiled(
    pool: asyncpg.Pool, announcing: EventStore
) -> None:
    first, second = crew_flow_records(), crew_flow_records()
    a, b = first[0].event.work_order_id, second[0].event.work_order_id
    late = photo(a, "m2", sha="e" * 64)
    meta = Metadata(actor="x", actorrole="technician", correlationid="c")
    schema = await project_into(
        pool, [first, second, [Recorded(99, seal(late, meta, source="tests"), late)]]
    )
    assert await outbox(pool, schema) == {(a, 1), (b, 1), (a, 2)}
    assert await publish_pending(announcing, pool, schema) == 3
    assert await outbox(pool, schema) == set()
    stored = await pool.fetch(
        f"SELECT work_order_id, revision, report FROM {schema}.server_reports"
    )
    reports = {(r[0], r[1]): json.loads(r[2]) for r in stored}
    for wo, revisions in ((a, [1, 2]), (b, [1])):
        announced = (await announcing.load(subject_for("aggregator", wo))).events
        assert isinstance(announced[0], ServerReportCompiled)
        assert [e.revision for e in announced] == revisions  # type: ignore[attr-defined]
        assert [e.report for e in announced] == [reports[wo, r] for r in revisions]  # type: ignore[attr-defined]
        assert [e.photos for e in announced] == [  # type: ignore[attr-defined]
            report_summary(reports[wo, r])["photos"] for r in revisions
        ]
    # what a crash between the publishes and the outbox's DELETE leaves: found in the log,
    # not appended again
    await pool.execute(f"INSERT INTO {schema}.outbox VALUES ($1, 1), ($1, 2)", a)
    assert await publish_pending(announcing, pool, schema) == 0
    assert len((await announcing.load(subject_for("aggregator", a))).records) == 2
    assert await outbox(pool, schema) == set()


class Heard:
    """The revisions announced on the log for one work order, as they arrive."""

    def __init__(self, store: EventStore, wo: UUID) -> None:
        self.store, self.subject = store, subject_for("aggregator", wo, "ServerReportCompiled")
        self.revisions: asyncio.Queue[int] = asyncio.Queue()

    async def __aenter__(self) -> Heard:
        async def on_msg(msg: Msg) -> None:
            await self.revisions.put(json.loads(msg.data)["data"]["revision"])

        self.sub = await self.store.nc.subscribe(self.subject, cb=on_msg)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.sub.unsubscribe()

    async def revision(self) -> int:
        async with asyncio.timeout(10):
            return await self.revisions.get()


def crew_flow_with_long_notes(notes_each: int) -> list[Recorded]:
    """A crew flow whose every member wrote ``notes_each`` notes of 10,000 characters (the
    most a note's text may hold)."""
    wo = uuid4()
    long = "x" * 10_000
    notes = [
        note(wo, who).model_copy(update={"findings": long})
        for who in CREW
        for _ in range(notes_each)
    ]
    events: list[Event] = [issued(wo), *notes, report(wo, "lead", tuple(n.note_id for n in notes))]
    events += [photo(wo, who, sha=uuid4().hex * 2) for who in CREW]
    meta = Metadata(actor="x", actorrole="technician", correlationid="c")
    return [
        Recorded(seq, seal(e, meta, source="tests"), e) for seq, e in enumerate(events, start=1)
    ]


async def test_a_report_too_big_for_one_message_is_announced_and_the_next_ones_too(
    pool: asyncpg.Pool, announcing: EventStore
) -> None:
    """Its announcement comes after the parts holding it, each message well within NATS's
    limit, and the documents service reads it back whole."""
    big, after = crew_flow_with_long_notes(notes_each=30), crew_flow_records()
    schema = await project_into(pool, [big, after])
    big_wo, after_wo = big[0].event.work_order_id, after[0].event.work_order_id
    document = await pool.fetchval(
        f"SELECT report FROM {schema}.server_reports WHERE work_order_id = $1", big_wo
    )
    limit = announcing.nc.max_payload
    assert len(document.encode()) > limit  # more than one message holds
    assert await publish_pending(announcing, pool, schema) == 2
    logged = await announcing.read(subject_for("aggregator", big_wo), 1, 100)
    events = [raw.decoded().event for raw in logged]
    *parts, announced = events
    assert all(isinstance(p, ServerReportPart) for p in parts) and parts
    assert all(len(raw.body) < limit for raw in logged)
    summary = report_summary(json.loads(document))
    assert announced == ServerReportCompiled(
        work_order_id=big_wo, revision=1, report_parts=len(parts), **summary
    )
    assert announced.notes == 120  # type: ignore[attr-defined]
    assert await documents.revisions(announcing, big_wo) == {
        1: {"revision": 1, **json.loads(document)}
    }
    later = (await announcing.load(subject_for("aggregator", after_wo))).events
    assert [e.revision for e in later] == [1]  # type: ignore[attr-defined]
    assert await outbox(pool, schema) == set()


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_a_report_in_parts_is_announced_in_the_trace_of_the_event_that_completed_it(
    pool: asyncpg.Pool, announcing: EventStore
) -> None:
    """The compile runs in the trace of the event that completed the report (its CloudEvents
    ``traceparent``), and every message announcing that revision, its parts too, carries the
    compile's context: the trace goes on from the request to the announcement."""
    traced = Metadata(
        actor="x",
        actorrole="technician",
        correlationid="c",
        traceparent=f"00-{TRACE_ID}-00f067aa0ba902b7-01",
        tracestate="fc=1",
    )
    records = [
        Recorded(r.seq, seal(r.event, traced, source="tests"), r.event)
        for r in crew_flow_with_long_notes(notes_each=30)
    ]
    wo = records[0].event.work_order_id
    projection = ServerReportProjection()
    schema = await project_into(pool, [records], projection=projection)
    assert set(projection.compiled_in) == {(wo, 1)}
    assert await publish_pending(announcing, pool, schema, projection.compiled_in) == 1
    logged = [raw.decoded() for raw in await announcing.read(subject_for("aggregator", wo), 1, 100)]
    assert isinstance(logged[0].event, ServerReportPart)
    assert isinstance(logged[-1].event, ServerReportCompiled)
    contexts = {(r.envelope.traceparent, r.envelope.tracestate) for r in logged}
    assert len(contexts) == 1  # the parts and the announcement: one compile's context
    ((traceparent, tracestate),) = contexts
    assert traceparent is not None
    _, trace_id, span_id, _ = traceparent.split("-")
    assert (trace_id, tracestate) == (TRACE_ID, "fc=1")
    assert span_id != "00f067aa0ba902b7"  # the compile's own span, child of the event's
    assert projection.compiled_in == {}  # announced: forgotten


class CountedAnnouncer(Announcer):
    """The announcer, telling the test each time a round is done."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rounds: asyncio.Queue[str] = asyncio.Queue()

    async def __call__(self, schema: str) -> None:
        await super().__call__(schema)
        self.rounds.put_nowait(schema)


async def test_the_announcer_publishes_beside_the_runner_when_a_commit_wakes_it(
    pool: asyncpg.Pool, announcing: EventStore
) -> None:
    records = crew_flow_records()
    wo = records[0].event.work_order_id
    projection = ServerReportProjection()
    schema = await project_into(pool, [])
    # a timer that never fires within the test: only the commit can wake it
    announcer = CountedAnnouncer(
        announcing, pool, projection, live_schema=lambda: schema, interval=3600
    )
    async with Heard(announcing, wo) as heard:
        task = asyncio.create_task(announcer.run())
        try:
            async with asyncio.timeout(10):
                await announcer.rounds.get()  # the round at start: nothing waiting yet
            async with pool.acquire() as conn, conn.transaction():
                await projection.apply(conn, schema, records)
            assert projection.outboxed
            await announcer.after_commit(schema)
            assert await heard.revision() == 1
            async with asyncio.timeout(10):
                await announcer.rounds.get()
            announcer.close()
            await task
        finally:
            task.cancel()
    assert await outbox(pool, schema) == set()
    assert not projection.outboxed and announcer.looked_at == schema


async def test_the_announcer_looks_at_the_outbox_on_a_timer_with_no_commit_to_wake_it(
    pool: asyncpg.Pool, announcing: EventStore
) -> None:
    """What another replica compiled (it shares the schema) and did not live to announce: no
    commit of this process ever wakes the announcer for it."""
    records = crew_flow_records()
    wo = records[0].event.work_order_id
    schema = await project_into(pool, [])
    announcer = CountedAnnouncer(
        announcing, pool, ServerReportProjection(), live_schema=lambda: schema, interval=0.2
    )
    async with Heard(announcing, wo) as heard:
        task = asyncio.create_task(announcer.run())
        try:
            async with asyncio.timeout(10):
                await announcer.rounds.get()  # the round at start: nothing waiting yet
            await project_into(pool, [records], schema)  # the other replica's commit
            assert await heard.revision() == 1
        finally:
            announcer.close()
            await task
    assert await outbox(pool, schema) == set()


class Failures(logging.Handler):
    """The background-task failures logged, as they are."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "background task failed; restarting":
            self.records.append(record)
            self.seen.set()


@pytest.fixture
def failures() -> Iterator[Failures]:
    handler = Failures()
    logger = logging.getLogger("fieldcrew_shared.supervision")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


async def test_a_failed_round_is_logged_with_its_traceback_and_the_announcer_restarted(
    pool: asyncpg.Pool, announcing: EventStore, failures: Failures
) -> None:
    records = crew_flow_records()
    wo = records[0].event.work_order_id
    schema = await project_into(pool, [records])
    live = {"schema": "agg_test_missing"}  # a round on it fails: no such schema
    announcer = Announcer(
        announcing, pool, ServerReportProjection(), live_schema=lambda: live["schema"]
    )
    task = Supervised(
        "announcer", announcer.run, on_stop=announcer.close, backoff=Backoff(first=0.5)
    )
    async with Heard(announcing, wo) as heard:
        task.start()
        try:
            async with asyncio.timeout(10):
                await failures.seen.wait()
            with pytest.raises(NotReadyError, match="UndefinedTableError"):
                await task.check()
            live["schema"] = schema
            assert await heard.revision() == 1
            assert (await task.check())["state"] == "running"
        finally:
            await task.stop()
    assert failures.records[0].exc_info is not None  # the traceback is in the log
    assert await outbox(pool, schema) == set()


async def test_a_schema_made_before_the_outbox_gets_what_it_had_not_announced(
    pool: asyncpg.Pool,
) -> None:
    waiting, done = crew_flow_records(), crew_flow_records()
    wo, announced = waiting[0].event.work_order_id, done[0].event.work_order_id
    schema = await project_into(pool, [waiting, [*done, announcement(announced, 1, 20)]])
    await pool.execute(f"DROP TABLE {schema}.outbox")  # what an older release left
    await project_into(pool, [], schema)
    assert await outbox(pool, schema) == {(wo, 1)}


async def test_a_schema_made_with_jsonb_documents_keeps_working(pool: asyncpg.Pool) -> None:
    """Older releases stored the documents as jsonb (ADR 0013 made them json): a live schema
    of theirs is written and read by this one without a rebuild."""
    first, second = crew_flow_records(), crew_flow_records()
    late = photo(first[0].event.work_order_id, "m2", sha="e" * 64)
    meta = Metadata(actor="x", actorrole="technician", correlationid="c")
    more = [second, [Recorded(99, seal(late, meta, source="tests"), late)]]
    old = await project_into(pool, [first])
    await pool.execute(
        f"ALTER TABLE {old}.progress ALTER state TYPE jsonb USING state::jsonb;"
        f"ALTER TABLE {old}.server_reports ALTER report TYPE jsonb USING report::jsonb"
    )
    await pool.expire_connections()  # the new release starts on new connections
    await project_into(pool, more, old)
    new = await project_into(pool, [first, *more])
    query = "SELECT work_order_id, revision, report FROM {}.server_reports ORDER BY 1, 2"
    reports = [
        [(r[0], r[1], json.loads(r[2])) for r in await pool.fetch(query.format(s))]
        for s in (old, new)
    ]
    assert len(reports[0]) == 3  # two work orders, one of them revised by the late photo
    assert reports[0] == reports[1]


async def replay_into(
    pool: asyncpg.Pool, batches: list[list[Recorded]], *, roll_back: int | None = None
) -> str:
    """``batches`` applied as a rebuild's replay applies them: rows held in memory, written
    back when they leave the cache and at the end; batch ``roll_back`` first fails once."""
    projection = ServerReportProjection()
    schema = f"agg_test_{uuid4().hex[:10]}"
    async with pool.acquire() as conn:
        await create_schema(conn, projection, schema)
        projection.start_replay(schema)
        for i, batch in enumerate(batches):
            if i == roll_back:
                with pytest.raises(RuntimeError):
                    async with conn.transaction():
                        await projection.apply(conn, schema, batch)
                        raise RuntimeError("the batch's transaction fails after applying")
                projection.transaction_ended(schema, committed=False)
            async with conn.transaction():
                await projection.apply(conn, schema, batch)
            projection.transaction_ended(schema, committed=True)
        async with conn.transaction():
            await projection.finish_replay(conn, schema)
        projection.drop_replay(schema)
    return schema


async def everything(pool: asyncpg.Pool, schema: str) -> list[object]:
    """Every row, the documents as their text: a rebuild must write the same bytes."""
    progress = await pool.fetch(f"SELECT * FROM {schema}.progress ORDER BY work_order_id")
    reports = await pool.fetch(f"SELECT * FROM {schema}.server_reports ORDER BY 1, 2")
    return [
        [dict(r) for r in progress],
        [{**r, "report": json.loads(r["report"])} for r in reports],
        await outbox(pool, schema),
    ]


@pytest.mark.parametrize("roll_back", [None, 15])  # 15: events 46-48 compile reports
async def test_a_replay_holding_rows_in_memory_writes_what_batch_by_batch_writes(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch, roll_back: int | None
) -> None:
    """A rebuild's replay keeps progress rows in memory and writes each back once (when it
    leaves the cache, at most 2 rows here, or at the end); a transaction that rolls back
    leaves nothing of its batch behind. The tables end as the live way leaves them."""
    import fieldcrew_aggregator.projection as module

    monkeypatch.setattr(module, "REPLAY_CACHE_WORK_ORDERS", 2)
    orders = [crew_flow_records() for _ in range(5)]
    late = photo(orders[0][0].event.work_order_id, "m2", sha="e" * 64)
    meta = Metadata(actor="x", actorrole="technician", correlationid="c")
    stream = [r for step in zip(*orders, strict=True) for r in step]  # interleaved
    stream.append(Recorded(0, seal(late, meta, source="tests"), late))
    stream.append(announcement(orders[1][0].event.work_order_id, 1, 0))
    stream = [Recorded(seq, r.envelope, r.event) for seq, r in enumerate(stream, start=1)]
    batches = [stream[i : i + 3] for i in range(0, len(stream), 3)]
    live = await everything(pool, await project_into(pool, batches))
    replayed = await everything(pool, await replay_into(pool, batches, roll_back=roll_back))
    assert replayed == live
    assert len(live[0]) == 5 and len(live[1]) == 6  # five work orders, one revised


async def test_a_crew_name_with_nul_is_refused_as_its_work_order_is_folded(
    pool: asyncpg.Pool,
) -> None:
    """PostgreSQL text cannot hold NUL. The ``WorkOrderIssued`` is refused as it is folded
    (ValueError: the runner dead-letters it), live and in a replay alike; a replay writes rows
    batches later, where the failure would have hit other events (ADR 0017)."""
    wo = uuid4()
    event = issued(wo, members=("m1", "m\x002"))
    meta = Metadata(actor="x", actorrole="dispatcher", correlationid="c")
    record = Recorded(1, seal(event, meta, source="tests"), event)
    projection = ServerReportProjection()
    schema = f"agg_test_{uuid4().hex[:10]}"
    async with pool.acquire() as conn:
        await create_schema(conn, projection, schema)
        for replaying in (False, True):
            if replaying:
                projection.start_replay(schema)
            with pytest.raises(ValueError, match="NUL"):
                async with conn.transaction():
                    await projection.apply(conn, schema, [record])
    assert await pool.fetchval(f"SELECT count(*) FROM {schema}.progress") == 0
