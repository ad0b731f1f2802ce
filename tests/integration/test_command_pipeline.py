"""The one command pipeline over the real NATS JetStream: the work order's whole history (every
context) is its consistency boundary, losers of a race decide again, a retry finds its events.
The same pipeline on our in-memory log: tests/unit/test_command_pipeline.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from uuid import uuid4

import pytest
from fieldcrew_cli.servers import Infra
from fieldcrew_shared.commands import CommandPipeline, event_id
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.errors import ConcurrencyError
from fieldcrew_shared.events import Event, MemberNoteAdded, work_order_subjects
from fieldcrew_shared.eventstore import EventStore, connect
from fieldcrew_shared.records import Recorded

from tests.unit.factories import issued, note, photo

META = Metadata(actor="max", actorrole="technician", correlationid="c-1")


def authors(history: Sequence[Recorded]) -> list[str]:
    return [r.event.author for r in history if isinstance(r.event, MemberNoteAdded)]


PIPELINE = CommandPipeline(authors, attempts=50)


@pytest.fixture
async def stores(infra: Infra) -> AsyncIterator[dict[str, EventStore]]:
    """One event store per context, each writing as that context's service would."""
    nc = await connect(infra.nats_url, name="test-pipeline")
    yield {c: EventStore(nc, source=f"fieldcrew/{c}") for c in ("dispatch", "team", "photos")}
    await nc.drain()


async def test_concurrent_commands_on_one_work_order_all_get_in_once(
    stores: dict[str, EventStore],
) -> None:
    wo = uuid4()
    await stores["dispatch"].append(issued(wo), META)

    def decide(i: int) -> object:
        return lambda state: [note(wo, f"m{i}")] if f"m{i}" not in state else []

    results = await asyncio.gather(
        *[PIPELINE.run(stores["team"], wo, uuid4(), decide(i), META) for i in range(8)]  # type: ignore[arg-type]
    )
    history = (await stores["team"].load(work_order_subjects(wo))).records
    assert sorted(authors(history)) == [f"m{i}" for i in range(8)]
    assert all(len(r.recorded) == 1 and not r.replayed for r in results)


async def test_another_contexts_event_of_the_work_order_is_a_conflict(
    stores: dict[str, EventStore],
) -> None:
    """The expected version covers ``fieldcrew.*.<id>.>``: a photo appended after the team's
    load makes the team's append fail, a photo of another work order does not."""
    wo, other = uuid4(), uuid4()
    team, photos = stores["team"], stores["photos"]
    await stores["dispatch"].append(issued(wo), META)
    loaded = await team.load(work_order_subjects(wo))
    await photos.append(photo(other, "m1", "c" * 64), META)
    [ok] = await team.append_all(
        [note(wo, "m1")],
        META,
        expected_version=loaded.version,
        aggregate=work_order_subjects(wo),
        event_ids=[uuid4()],
    )
    await photos.append(photo(wo, "m2", "d" * 64), META)
    with pytest.raises(ConcurrencyError):
        await team.append_all(
            [note(wo, "m3")],
            META,
            expected_version=ok.seq,
            aggregate=work_order_subjects(wo),
            event_ids=[uuid4()],
        )


async def test_a_retried_command_finds_its_events_in_the_log(
    stores: dict[str, EventStore],
) -> None:
    wo, command = uuid4(), uuid4()
    await stores["dispatch"].append(issued(wo), META)
    decided: list[Event] = [note(wo, "m1"), note(wo, "m2")]
    first = await PIPELINE.run(stores["team"], wo, command, lambda _: decided, META)
    again = await PIPELINE.run(stores["team"], wo, command, lambda _: decided, META)
    assert again.replayed and [r.seq for r in again.recorded] == [r.seq for r in first.recorded]
    assert [r.envelope.id for r in first.recorded] == [str(event_id(command, i)) for i in (0, 1)]
    history = (await stores["team"].load(work_order_subjects(wo))).records
    assert authors(history) == ["m1", "m2"]
