"""The live tail over the real NATS JetStream: a listener gets what the log holds after its
start and then every new event, in order, with none missing or repeated while writers go on;
another work order's events never reach it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import pytest
from fieldcrew_cli.servers import Infra
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.events import MemberNoteAdded, work_order_subjects
from fieldcrew_shared.eventstore import EventStore, connect
from fieldcrew_shared.tail import LogTail

from tests.unit.factories import note

META = Metadata(actor="max", actorrole="technician", correlationid="tail")


@pytest.fixture
async def store(infra: Infra) -> AsyncIterator[EventStore]:
    nc = await connect(infra.nats_url, name="test-tail")
    yield EventStore(nc, source="fieldcrew/team")
    await nc.drain()


async def authors(events: AsyncIterator[object], count: int) -> list[tuple[int, str]]:
    got: list[tuple[int, str]] = []
    async with asyncio.timeout(30):
        async for record in events:
            assert isinstance(record.event, MemberNoteAdded)  # type: ignore[attr-defined]
            got.append((record.seq, record.event.author))  # type: ignore[attr-defined]
            if len(got) == count:
                return got
    return got


async def write(store: EventStore, wo: UUID, names: list[str]) -> None:
    for name in names:
        await store.append(note(wo, name), META)


async def test_backlog_then_live_without_gaps_or_repeats(store: EventStore) -> None:
    wo, other = uuid4(), uuid4()
    await write(store, wo, ["a0", "a1", "a2"])
    tail = LogTail(store, poll=0.05)
    try:
        events = tail.follow(work_order_subjects(wo), 0)
        first = await authors(events, 3)
        later = [f"b{i}" for i in range(20)]
        writing = asyncio.gather(write(store, wo, later), write(store, other, ["x"] * 5))
        rest = await authors(events, 20)
        await writing
    finally:
        await tail.close()
    names = [name for _, name in first + rest]
    assert names == ["a0", "a1", "a2", *later]
    seqs = [seq for seq, _ in first + rest]
    assert seqs == sorted(set(seqs))


async def test_from_now_on_and_after_a_sequence(store: EventStore) -> None:
    wo = uuid4()
    await write(store, wo, ["old"])
    tail = LogTail(store, poll=0.05)
    try:
        now = tail.follow(work_order_subjects(wo), None)
        reading = asyncio.ensure_future(authors(now, 1))
        await asyncio.sleep(0)  # one turn: the listener registers and starts the tail
        await tail.started()
        await write(store, wo, ["new"])
        [(seq, name)] = await reading
        assert name == "new"
        resumed = await authors(tail.follow(work_order_subjects(wo), seq - 1), 1)
        assert resumed == [(seq, "new")]
    finally:
        await tail.close()
