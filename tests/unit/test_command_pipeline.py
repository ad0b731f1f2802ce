"""The one command pipeline on our in-memory event log (tests/fakes.py): every decided event
appended under the expected version, a retry answered from the log, a reused key refused, a
lost race decided again, a half-written command finished. The same pipeline on the real NATS:
tests/integration/test_command_pipeline.py."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from uuid import UUID, uuid4

import pytest
from fieldcrew_shared.commands import CommandPipeline, event_id
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.errors import (
    ConcurrencyError,
    ConflictError,
    InvalidCommandError,
    NotFoundError,
)
from fieldcrew_shared.events import Event, MemberNoteAdded
from fieldcrew_shared.records import Loaded, Recorded

from tests.fakes import FakeEventLog
from tests.unit.factories import issued, note, photo

META = Metadata(actor="m1", actorrole="technician", correlationid="c-1")


def authors(history: Sequence[Recorded]) -> list[str]:
    """The fold of these tests: who wrote the notes, in order."""
    return [r.event.author for r in history if isinstance(r.event, MemberNoteAdded)]


PIPELINE = CommandPipeline(authors)


class Decider:
    """A ``decide`` that records the states it was called with."""

    def __init__(self, *events: Event, refuse_when: str | None = None) -> None:
        self.events, self.refuse_when = list(events), refuse_when
        self.seen: list[list[str]] = []

    def __call__(self, state: list[str]) -> list[Event]:
        self.seen.append(state)
        if self.refuse_when in state:
            raise ConflictError("refused", code="refused")
        return self.events


async def given(*events: Event) -> FakeEventLog:
    log = FakeEventLog()
    for event in events:
        await log.append(event, META)
    return log


async def test_every_decided_event_is_appended_in_order_under_derived_ids() -> None:
    wo, command = uuid4(), uuid4()
    log = await given(issued(wo))
    decided = [note(wo, "m1"), note(wo, "m2"), note(wo, "m3")]
    done = await PIPELINE.run(log, wo, command, Decider(*decided), META)
    assert [r.event for r in done.recorded] == decided == log.events[1:]
    assert [r.envelope.id for r in done.recorded] == [str(event_id(command, i)) for i in range(3)]
    assert [r.seq for r in done.recorded] == [2, 3, 4]
    assert not done.replayed and done.state == ["m1", "m2", "m3"]


async def test_a_retry_of_the_command_finds_what_it_recorded_and_writes_nothing() -> None:
    wo, command = uuid4(), uuid4()
    log = await given(issued(wo))
    decide = Decider(note(wo, "m1"))
    first = await PIPELINE.run(log, wo, command, decide, META)
    await log.append(note(wo, "m2"), META)  # others went on meanwhile
    again = await PIPELINE.run(log, wo, command, decide, META)
    assert again.replayed and again.recorded == first.recorded
    assert len(log.events) == 3
    assert decide.seen[-1] == []  # decided again on the history as it stood before


async def test_the_same_command_id_with_another_decision_is_a_reused_key() -> None:
    wo, command = uuid4(), uuid4()
    log = await given(issued(wo))
    await PIPELINE.run(log, wo, command, Decider(note(wo, "m1")), META)
    with pytest.raises(InvalidCommandError) as refused:
        await PIPELINE.run(log, wo, command, Decider(note(wo, "m1", minutes=5)), META)
    assert refused.value.code == "idempotency_key_reused"
    with pytest.raises(InvalidCommandError):  # the same id deciding nothing now: reused too
        await PIPELINE.run(log, wo, command, Decider(), META)
    assert len(log.events) == 2


async def test_a_lost_race_is_decided_again_on_the_new_history() -> None:
    wo = uuid4()
    log = await given(issued(wo))
    log.interleave(note(wo, "rival"))
    decide = Decider(note(wo, "m1"))
    done = await PIPELINE.run(log, wo, uuid4(), decide, META)
    assert decide.seen == [[], ["rival"]]
    assert authors(await log.history(wo)) == ["rival", "m1"] == done.state
    assert log.conflicts == 1


async def test_a_lost_race_can_make_the_command_refused_and_then_nothing_is_written() -> None:
    wo = uuid4()
    log = await given(issued(wo))
    log.interleave(note(wo, "rival"))
    with pytest.raises(ConflictError):
        await PIPELINE.run(log, wo, uuid4(), Decider(note(wo, "m1"), refuse_when="rival"), META)
    assert authors(await log.history(wo)) == ["rival"]


async def test_a_writer_between_a_commands_events_makes_it_finish_after_them() -> None:
    """Each next event is appended under the one before's sequence: a writer slipping in
    between makes that append fail, and the retry finds the first event and appends the rest
    after the rival's (no event is lost or doubled; ADR 0033)."""
    wo = uuid4()
    log = await given(issued(wo))
    decide = Decider(note(wo, "m1"), note(wo, "m2"))
    real_append = log.append

    async def rival_after_first(event: Event, meta: Metadata, **kw: object) -> object:
        if event is decide.events[1] and not decide.seen[1:]:
            log.interleave(note(wo, "rival"))
        return await real_append(event, meta, **kw)  # type: ignore[arg-type]

    log.append = rival_after_first  # type: ignore[method-assign]
    done = await PIPELINE.run(log, wo, uuid4(), decide, META)
    # the first attempt left its first event; the retry found it and finished the command
    assert done.replayed
    assert authors(await log.history(wo)) == ["m1", "rival", "m2"]
    assert [r.event for r in done.recorded] == decide.events


async def test_a_half_written_command_is_finished_by_its_retry() -> None:
    wo, command = uuid4(), uuid4()
    log = await given(issued(wo))
    first, second = note(wo, "m1"), note(wo, "m2")
    await log.append(first, META, event_id=event_id(command, 0))  # then the process died
    done = await PIPELINE.run(log, wo, command, Decider(first, second), META)
    assert done.replayed and [r.event for r in done.recorded] == [first, second]
    assert done.recorded[1].envelope.id == str(event_id(command, 1))
    assert log.events[1:] == [first, second]


async def test_a_concurrent_attempt_of_the_same_command_is_answered_as_a_retry() -> None:
    wo, command = uuid4(), uuid4()
    log = await given(issued(wo))
    decided = note(wo, "m1")
    log.interleave(decided, event_id=command)  # the client's first attempt got in first
    done = await PIPELINE.run(log, wo, command, Decider(decided), META)
    assert done.replayed and [r.event for r in done.recorded] == [decided]
    assert log.events[1:] == [decided]


async def test_deciding_nothing_writes_nothing() -> None:
    wo = uuid4()
    log = await given(issued(wo))
    done = await PIPELINE.run(log, wo, uuid4(), Decider(), META)
    assert done.recorded == () and not done.replayed
    assert len(log.events) == 1 and log.appends == 1


async def test_it_gives_up_after_losing_every_race() -> None:
    wo = uuid4()
    log = await given(issued(wo))
    pipeline = CommandPipeline(authors, attempts=3)
    real_append = log.append

    async def always_lose(event: Event, meta: Metadata, **kw: object) -> object:
        log.interleave(note(wo, "rival"))
        return await real_append(event, meta, **kw)  # type: ignore[arg-type]

    log.append = always_lose  # type: ignore[method-assign]
    with pytest.raises(ConcurrencyError):
        await pipeline.run(log, wo, uuid4(), Decider(note(wo, "m1")), META)
    assert log.conflicts == 3 and "m1" not in authors(await log.history(wo))


async def test_the_work_order_is_one_boundary_across_contexts() -> None:
    """A team command races a dispatch event of the same work order: it loses and decides
    again; an event of another work order does not disturb it."""
    wo, other = uuid4(), uuid4()
    log = await given(issued(wo), issued(other))
    log.interleave(note(other, "elsewhere"))
    decide = Decider(note(wo, "m1"))
    await PIPELINE.run(log, wo, uuid4(), decide, META)
    assert log.conflicts == 0 and len(decide.seen) == 1
    log.interleave(photo(wo, "m2", "a" * 64))  # another context's event of this work order
    await PIPELINE.run(log, wo, uuid4(), decide, META)
    assert log.conflicts == 1


@dataclass
class LaggingReplica(FakeEventLog):
    """The log as a replica that has not applied its newest ``behind`` events answers it: an
    ordinary load misses them, a ``fresh`` one (as of the leader's last sequence) sees all."""

    behind: int = 0
    fresh_loads: int = 0

    async def load(self, subject_filter: str, *, fresh: bool = False) -> Loaded:
        if fresh:
            self.fresh_loads += 1
            return self._loaded(subject_filter)
        everything, self.records = self.records, self.records[: len(self.records) - self.behind]
        try:
            return self._loaded(subject_filter)
        finally:
            self.records = everything


def needs_note_of(author: str, wo: UUID) -> Callable[[list[str]], list[Event]]:
    """A ``decide`` that refuses (as "no such work order" does) unless ``author``'s note is in
    the history."""

    def decide(state: list[str]) -> list[Event]:
        if author not in state:
            raise NotFoundError(f"no note of {author}")
        return [note(wo, "m2")]

    return decide


async def test_a_refusal_decided_on_a_replica_behind_is_decided_again_as_of_now() -> None:
    wo = uuid4()
    log = LaggingReplica(behind=1)
    for event in (issued(wo), note(wo, "m1")):
        await log.append(event, META)
    done = await PIPELINE.run(log, wo, uuid4(), needs_note_of("m1", wo), META)
    assert done.state == ["m1", "m2"] and log.fresh_loads == 1
    assert [r.seq for r in done.recorded] == [3]  # appended after the event the replica lacked


async def test_a_refusal_the_log_as_of_now_confirms_stands_and_writes_nothing() -> None:
    wo = uuid4()
    log = LaggingReplica(behind=1)
    await log.append(issued(wo), META)
    with pytest.raises(NotFoundError):
        await PIPELINE.run(log, wo, uuid4(), needs_note_of("m1", wo), META)
    assert log.fresh_loads == 1 and len(log.events) == 1


async def test_a_work_order_a_replica_has_not_got_yet_is_found_as_of_now() -> None:
    wo = uuid4()
    log = LaggingReplica(behind=2)
    for event in (issued(wo), note(wo, "m1")):
        await log.append(event, META)
    state, loaded = await PIPELINE.view(log, wo)
    assert state == ["m1"] and loaded.version == 2 and log.fresh_loads == 1
    log.behind = 0
    await PIPELINE.view(log, wo)
    assert log.fresh_loads == 1  # found at once: no second read
