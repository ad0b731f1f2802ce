"""The one command pipeline: every command of every service goes load → decide → append every
decided event under the expected version → the result (docs/design.md §3,
docs/conventions.md §14, ADR 0033).

- **load**: the work order's whole history, every context (``fieldcrew.*.<id>.>``). One work
  order is one consistency boundary: a crew change and a report, a cancellation and a note,
  cannot both win a race.
- **decide**: the service's pure ``decide`` on the service's ``fold`` of that history.
- **append**: every decided event in order, the first under the version loaded, each next one
  under the one before it. Event ids derive from the command id (:func:`event_id`), so a
  retried publish is dropped by JetStream and a retried command finds its events.
- **idempotent replay**: when the command's first event is already in the history, the command
  was carried out before (a client's retry with the same ``Idempotency-Key``). It is decided
  again on the history as it stood before its events: the same events mean a replay (what was
  recorded is returned, nothing is written), other events mean the key was reused for another
  command (``idempotency_key_reused``). Events a crash left unwritten are appended then.
- **conflict retry**: another writer appended first (``ConcurrencyError``): load and decide
  again, a few times.

A service adds only its ``fold`` and its ``decide_*`` functions.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.errors import CommandRejectedError, ConcurrencyError, InvalidCommandError
from fieldcrew_shared.events import Event, work_order_subjects
from fieldcrew_shared.metrics import CONFLICT_RETRIES
from fieldcrew_shared.records import Appended, Loaded, Recorded

S = TypeVar("S")

ATTEMPTS = 8
COMMAND_NAMESPACE = uuid.UUID("2d0f0c52-3c8e-4a0b-8f0e-5b8f5a7c9e21")
"""Fixed forever: ids of commands made with a client's key derive from it."""


class EventLog(Protocol):
    """What the pipeline needs of an event store (``EventStore``, or a test's in-memory one)."""

    async def load(self, subject_filter: str, *, fresh: bool = False) -> Loaded:
        """Every event matching ``subject_filter`` in log order, and the last one's sequence;
        ``fresh``: certainly as of the log's last event now, not as a replica behind saw it."""
        ...

    async def append_all(
        self,
        events: Sequence[Event],
        meta: Metadata,
        *,
        expected_version: int,
        aggregate: str,
        event_ids: Sequence[uuid.UUID],
    ) -> list[Appended]:
        """Append ``events`` in order, the first when ``aggregate``'s last sequence is
        ``expected_version``, each next one right after the one before (ConcurrencyError
        otherwise)."""
        ...


Fold = Callable[[Sequence[Recorded]], S]
Decide = Callable[[S], Sequence[Event]]


@dataclass(frozen=True)
class Executed(Generic[S]):
    """What a command did. ``recorded``: its events, appended now or, when ``replayed``, found
    from an earlier attempt; empty when the decision was that nothing changes. ``state`` and
    ``history``: the work order with them."""

    recorded: tuple[Recorded, ...]
    replayed: bool
    state: S
    history: tuple[Recorded, ...]


def command_id(work_order_id: uuid.UUID, actor: str, kind: str, key: str | None) -> uuid.UUID:
    """The id of a command: derived from the client's ``Idempotency-Key`` (or an offline
    action's id) so that a retry names the same command; random without one."""
    if key is None:
        return uuid.uuid4()
    return uuid.uuid5(COMMAND_NAMESPACE, f"{work_order_id}\n{actor}\n{kind}\n{key}")


def event_id(command: uuid.UUID, index: int) -> uuid.UUID:
    """The id of a command's ``index``-th event: the command's own id for the first."""
    return command if index == 0 else uuid.uuid5(command, str(index))


class CommandPipeline(Generic[S]):
    """load → decide → append for one service, whose view of a work order is ``fold``."""

    def __init__(self, fold: Fold[S], attempts: int = ATTEMPTS) -> None:
        self.fold = fold
        self.attempts = attempts

    async def view(self, log: EventLog, work_order_id: uuid.UUID) -> tuple[S, Loaded]:
        """The work order as this service sees it, and its history (for queries). A work
        order not found is looked for again in the log as of now: a replica that lags behind
        may not have it yet (docs/adr/0062-reads-that-confirm-with-the-leader.md)."""
        aggregate = work_order_subjects(work_order_id)
        loaded = await log.load(aggregate)
        if loaded.version == 0:
            loaded = await log.load(aggregate, fresh=True)
        return self.fold(loaded.records), loaded

    async def run(
        self,
        log: EventLog,
        work_order_id: uuid.UUID,
        command: uuid.UUID,
        decide: Decide[S],
        meta: Metadata,
    ) -> Executed[S]:
        """Carry out ``command`` on the work order: ``decide`` is called with the current
        state and returns the events to record. Domain errors propagate, nothing written."""
        for attempt in range(self.attempts):
            try:
                return await self._attempt(log, work_order_id, command, decide, meta)
            except ConcurrencyError:
                if attempt == self.attempts - 1:
                    raise
                CONFLICT_RETRIES.inc()
                await asyncio.sleep(0.002 * (attempt + 1))  # back off a little under contention
        raise AssertionError("unreachable")

    async def _attempt(
        self,
        log: EventLog,
        work_order_id: uuid.UUID,
        command: uuid.UUID,
        decide: Decide[S],
        meta: Metadata,
    ) -> Executed[S]:
        aggregate = work_order_subjects(work_order_id)
        attempt = functools.partial(self._decide_and_append, log, aggregate, command, decide, meta)
        try:
            return await attempt(await log.load(aggregate))
        except CommandRejectedError:
            # decided on what one replica had, perhaps behind the leader: a refusal stands
            # only when the log as of now says the same (docs/adr/0062)
            return await attempt(await log.load(aggregate, fresh=True))

    async def _decide_and_append(
        self,
        log: EventLog,
        aggregate: str,
        command: uuid.UUID,
        decide: Decide[S],
        meta: Metadata,
        loaded: Loaded,
    ) -> Executed[S]:
        """Decide ``command`` on the history ``loaded`` and append what it decided."""
        history = loaded.records
        first = str(event_id(command, 0))
        done = next((i for i, r in enumerate(history) if r.envelope.id == first), None)
        if done is not None:
            return await self._replay(log, loaded, done, command, decide, meta)
        events = list(decide(self.fold(history)))
        if not events:
            return Executed((), replayed=False, state=self.fold(history), history=tuple(history))
        items = [(e, event_id(command, i)) for i, e in enumerate(events)]
        new = await _append(log, aggregate, loaded.version, items, meta)
        return self._executed(history, new, new, replayed=False)

    async def _replay(
        self,
        log: EventLog,
        loaded: Loaded,
        done: int,
        command: uuid.UUID,
        decide: Decide[S],
        meta: Metadata,
    ) -> Executed[S]:
        """The command's events from ``done`` on are in the history: decide again on what
        came before them, and compare."""
        history = loaded.records
        events = list(decide(self.fold(history[:done])))
        by_id = {r.envelope.id: r for r in history[done:]}
        ids = [event_id(command, i) for i in range(len(events))]
        found = [by_id.get(str(i)) for i in ids]
        same = all(r is None or r.event == e for r, e in zip(found, events, strict=True))
        if not events or not same:
            raise InvalidCommandError(
                "this Idempotency-Key was already used for a different command",
                code="idempotency_key_reused",
            )
        missing = [(e, i) for r, e, i in zip(found, events, ids, strict=True) if r is None]
        new: tuple[Recorded, ...] = ()
        if missing:  # an earlier attempt stopped half-way: finish it
            aggregate = work_order_subjects(events[0].work_order_id)
            new = await _append(log, aggregate, loaded.version, missing, meta)
        recorded = (*(r for r in found if r is not None), *new)
        return self._executed(history, new, recorded, replayed=True)

    def _executed(
        self,
        history: Sequence[Recorded],
        new: tuple[Recorded, ...],
        recorded: tuple[Recorded, ...],
        *,
        replayed: bool,
    ) -> Executed[S]:
        everything = (*history, *new)
        return Executed(recorded, replayed, state=self.fold(everything), history=everything)


async def _append(
    log: EventLog,
    aggregate: str,
    version: int,
    items: Sequence[tuple[Event, uuid.UUID]],
    meta: Metadata,
) -> tuple[Recorded, ...]:
    events = [e for e, _ in items]
    appended = await log.append_all(
        events, meta, expected_version=version, aggregate=aggregate, event_ids=[i for _, i in items]
    )
    if any(a.duplicate for a in appended):
        # the same ids were appended by a concurrent attempt of this very command: load again,
        # and the replay path returns what that attempt recorded
        raise ConcurrencyError("a concurrent attempt of this command appended first")
    return tuple(Recorded(a.seq, a.envelope, e) for a, e in zip(appended, events, strict=True))
