"""The JetStream event store against a real nats-server."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from uuid import uuid4

import pytest
from fieldcrew_cli.servers import Infra
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.errors import ConcurrencyError, EventLogRefusedError
from fieldcrew_shared.events import subject_for
from fieldcrew_shared.eventstore import (
    SUBJECTS,
    EventStore,
    RawEvent,
    Recorded,
    connect,
)
from nats.js.errors import APIError

from tests.unit.factories import issued, note

META = Metadata(actor="max", actorrole="technician", correlationid="c-1")


@pytest.fixture
async def store(infra: Infra) -> AsyncIterator[EventStore]:
    nc = await connect(infra.nats_url, name="test-eventstore")
    store = EventStore(nc, source="fieldcrew/team")
    await store.ensure_stream()
    yield store
    await nc.drain()


async def test_the_stream_keeps_everything_on_disk(store: EventStore) -> None:
    info = await store.js.stream_info(store.stream)
    assert info.config.storage == "file"
    assert not info.config.max_age
    assert info.config.subjects == ["fieldcrew.>"]
    assert info.config.deny_delete and info.config.deny_purge


async def test_load_returns_an_aggregates_events_in_order_across_batches(
    store: EventStore,
) -> None:
    wo = uuid4()
    agg = subject_for("team", wo)
    version = 0
    notes = [note(wo, f"m{i}") for i in range(600)]
    for n in notes:
        version = (await store.append(n, META, expected_version=version, aggregate=agg)).seq
    other = note(uuid4(), "x")
    await store.append(other, META)
    loaded = await store.load(agg)
    assert loaded.events == notes
    assert loaded.version == version
    assert [r.envelope.actor for r in loaded.records[:1]] == ["max"]


@pytest.mark.parametrize("count", [0, 1, 10, 256, 257])
async def test_load_gets_exactly_the_aggregates_events_however_many(
    store: EventStore, count: int
) -> None:
    """A load asks for as many events as the server counts (bench/README.md); around the batch size
    of 256 and with other aggregates' events in between, it still gets all of them."""
    wo = uuid4()
    agg = subject_for("team", wo)
    mine, version = [], 0
    for i in range(count):
        mine.append(note(wo, f"m{i}"))
        version = (await store.append(mine[-1], META)).seq
        if i % 50 == 0:  # neighbours: another work order, and the same one in another context
            await store.append(note(uuid4(), "x"), META)
            await store.append(issued(wo), META)
    loaded = await store.load(agg)
    assert loaded.events == mine
    assert loaded.version == version


async def test_reads_leave_their_events_to_reference_counting(store: EventStore) -> None:
    """What a read or load returns is freed as soon as the caller drops it, not kept alive in
    a reference cycle until the cyclic collector runs (in a rebuild that was ~1 KB of garbage
    for every event read, bench/README.md)."""
    wo = uuid4()
    for i in range(3):
        await store.append(note(wo, f"m{i}"), META)
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            await store.read(SUBJECTS, 1)
            await store.load(subject_for("team", wo))
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        kept = [o for o in gc.garbage if isinstance(o, (RawEvent, Recorded))]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert kept == []


async def test_two_writers_on_one_aggregate_cannot_both_win(store: EventStore) -> None:
    wo = uuid4()
    agg = subject_for("team", wo)
    first = await store.append(note(wo, "a"), META, expected_version=0, aggregate=agg)
    results = await asyncio.gather(
        *[
            store.append(note(wo, f"w{i}"), META, expected_version=first.seq, aggregate=agg)
            for i in range(5)
        ],
        return_exceptions=True,
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert sum(isinstance(r, ConcurrencyError) for r in results) == 4
    assert len((await store.load(agg)).records) == 2


async def test_an_empty_aggregate_expects_version_zero(store: EventStore) -> None:
    wo = uuid4()
    agg = subject_for("dispatch", wo)
    await store.append(issued(wo), META, expected_version=0, aggregate=agg)
    with pytest.raises(ConcurrencyError):
        await store.append(issued(wo), META, expected_version=0, aggregate=agg)


async def test_a_retried_append_with_the_same_event_id_is_dropped(store: EventStore) -> None:
    wo, event_id = uuid4(), uuid4()
    n = note(wo, "m1")
    first = await store.append(n, META, event_id=event_id)
    again = await store.append(n, META, event_id=event_id)
    assert again.duplicate and again.seq == first.seq
    assert len((await store.load(subject_for("team", wo))).records) == 1


async def test_append_many_keeps_their_order_and_a_repeat_of_them_is_dropped(
    store: EventStore,
) -> None:
    wo = uuid4()
    notes = [note(wo, f"m{i}") for i in range(300)]
    items = [(n, META, uuid4()) for n in notes]
    first = await store.append_many(items)
    seqs = [a.seq for a in first]
    assert seqs == sorted(set(seqs)) and not any(a.duplicate for a in first)
    loaded = await store.load(subject_for("team", wo))
    assert loaded.events == notes and [r.seq for r in loaded.records] == seqs
    assert [r.envelope.id for r in loaded.records] == [str(eid) for _, _, eid in items]
    again = await store.append_many(items)  # a retry after a failure: nothing stored twice
    assert all(a.duplicate for a in again) and [a.seq for a in again] == seqs
    assert len((await store.load(subject_for("team", wo))).records) == len(notes)


async def test_a_cancelled_first_append_does_not_cancel_the_others(store: EventStore) -> None:
    """The first appends of a store wait together for its acknowledgement subscription; one
    of them cancelled (a client gone) must not take it away from the rest."""
    fresh = EventStore(store.nc, source="fieldcrew/team")
    wo = uuid4()
    tasks = [asyncio.create_task(fresh.append(note(wo, f"m{i}"), META)) for i in range(10)]
    # runs after each task's first step, when every one of them waits on the subscription
    asyncio.get_running_loop().call_soon(tasks[0].cancel)
    done = await asyncio.gather(*tasks[1:])
    assert len({a.seq for a in done}) == 9
    assert tasks[0].cancelled()


async def test_an_append_refused_by_jetstream_says_why_and_stores_nothing(
    store: EventStore,
) -> None:
    """JetStream's error answer (here: the stream expected is not the one the subject belongs
    to) is read, not waited out (nats-py 2.16's publish_async lost it), and becomes an error
    with a code of ours (a 503 at the edge) carrying JetStream's."""
    wo = uuid4()
    wrong = EventStore(store.nc, source="fieldcrew/team", stream="NOT_FIELDCREW", timeout=30)
    async with asyncio.timeout(10):
        with pytest.raises(EventLogRefusedError) as refused_many:
            await wrong.append_many([(note(wo, "m1"), META, uuid4())])
        with pytest.raises(EventLogRefusedError) as refused:
            await wrong.append(note(wo, "m2"), META)
    for error in (refused_many.value, refused.value):
        assert error.code == "event_log_refused" and error.status == 503
        assert "expected stream does not match (JetStream error 10060)" in error.message
        assert isinstance(error.__cause__, APIError)
    assert (await store.load(subject_for("team", wo))).records == []


async def test_last_finds_the_newest_event_or_none(store: EventStore) -> None:
    wo = uuid4()
    assert await store.last(subject_for("dispatch", wo, "WorkOrderIssued")) is None
    await EventStore(store.nc, source="fieldcrew/dispatch").append(issued(wo), META)
    found = await store.last(subject_for("dispatch", wo, "WorkOrderIssued"))
    assert found is not None and found.event == issued(wo)


async def test_latest_reads_the_newest_event_of_each_subject_in_one_request(
    store: EventStore,
) -> None:
    a, b, none = uuid4(), uuid4(), uuid4()
    await store.append(note(a, "m1"), META)
    newest_a = await store.append(note(a, "m2"), META)
    newest_b = await store.append(note(b, "m1"), META)
    subjects = [subject_for("team", wo, "MemberNoteAdded") for wo in (a, b, none)]
    found = await store.latest(subjects)
    assert {s: raw.seq for s, raw in found.items()} == {
        subjects[0]: newest_a.seq,
        subjects[1]: newest_b.seq,
    }
    assert await store.latest([subjects[2]]) == {}
