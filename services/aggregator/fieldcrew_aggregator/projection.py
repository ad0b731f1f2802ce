"""The server-report projection: one progress row per work order in PostgreSQL, its document
as ``json`` text, and every compiled revision of every server report (ADR 0013: nothing
queries inside them, and converting to ``jsonb`` cost PostgreSQL ~26 us of CPU per event in a
rebuild).

A batch of events is folded in memory (one SELECT ... FOR UPDATE of the work orders it
touches, one upsert of the changed rows), with the compile rule checked after every event, so
a batch gives exactly what one-event-at-a-time would have given.

Revisions compiled but not yet seen announced (``ServerReportCompiled`` in the log) wait in
``outbox``, written in the same transaction: a table as small as the backlog, so finding what
to announce costs the same at any size of history (ADR 0012).

The tables and how a work order's progress is written as a row: :mod:`.progress_table`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
import orjson
from fieldcrew_shared import tracing
from fieldcrew_shared.events import CrewChanged, ServerReportCompiled, WorkOrderIssued
from fieldcrew_shared.eventstore import Recorded

from fieldcrew_aggregator.domain import (
    Progress,
    copy_progress,
    empty_progress,
    fold,
    recompile,
)
from fieldcrew_aggregator.metrics import COMPILE_LATENCY
from fieldcrew_aggregator.progress_table import DDL, INSERT_REPORT, UPSERT, row_of, to_json

# Compile trace contexts kept for announcements at most (the oldest are forgotten)
MAX_TRACED_COMPILES = 10_000

# Work orders whose progress a replay holds in memory at most (~25 KB each as Python objects)
REPLAY_CACHE_WORK_ORDERS = 8192

Held = tuple[Progress, int]  # a work order's progress and the sequence of its last event


@dataclass
class _Replay:
    """A replay's progress not written yet: that of committed transactions, least recently
    touched first, and that of the transaction in progress. Held progress is never changed in
    place: a transaction folds into a copy (:func:`copy_progress`), which it holds only once
    it commits."""

    held: OrderedDict[UUID, Held] = field(default_factory=OrderedDict)
    pending: dict[UUID, Held] = field(default_factory=dict)
    written_back: list[UUID] = field(default_factory=list)  # by the transaction in progress
    # Whether the schema had no progress rows when the replay began (found out in its first
    # transaction): then only the work orders it wrote back can have a row to read.
    fresh: bool | None = None
    ever_written: set[UUID] = field(default_factory=set)


class ServerReportProjection:
    """Implements :class:`fieldcrew_shared.projection.Projection` and, for rebuilds,
    :class:`fieldcrew_shared.projection.ReplayCache`: during a replay each work order's
    progress is kept in memory and written once, when it leaves the cache or the replay ends,
    instead of being read, parsed, dumped and written in every batch that touches it (a work
    order's events are spread over many batches in a busy log)."""

    name = "aggregator"
    outboxed = False  # set when a batch put a revision in the outbox (see publisher.Announcer)

    def __init__(self) -> None:
        self._replays: dict[str, _Replay] = {}
        # the trace context each live compile ran in, by (work order, revision), for its
        # announcement to carry (an announcement after a restart starts a trace of its own)
        self.compiled_in: dict[tuple[UUID, int], tuple[str | None, str | None]] = {}

    def ddl(self, schema: str) -> str:
        return DDL.format(s=schema)

    async def apply(
        self, conn: asyncpg.Connection, schema: str, records: Sequence[Recorded]
    ) -> None:
        for record in records:
            if isinstance(record.event, WorkOrderIssued | CrewChanged):
                check_storable(record.event)
        # a webhook's registration is no work order's: the webhook projection reads it
        records = [r for r in records if r.event.about_work_order]
        if not records:
            return
        replay = self._replays.get(schema)
        ids = list(dict.fromkeys(r.event.work_order_id for r in records))
        states: dict[UUID, Progress] = {}
        missing = ids
        if replay is not None:
            missing = await self._from_replay(conn, schema, replay, ids, states)
        if missing:
            rows = await conn.fetch(
                f"SELECT work_order_id, state FROM {schema}.progress"
                " WHERE work_order_id = ANY($1::uuid[]) ORDER BY work_order_id FOR UPDATE",
                missing,
            )
            states.update((r["work_order_id"], orjson.loads(r["state"])) for r in rows)
        last_seq, compiled, announced = _fold_all(states, records)
        if replay is None:
            latest = {wo: body for wo, _, body, _ in compiled}  # each one's report, as JSON
            changed = [row_of(wo, states[wo], seq, latest.get(wo)) for wo, seq in last_seq.items()]
            await conn.executemany(UPSERT.format(s=schema), changed)
        if compiled:
            rows = [(*c, c[1] > states[c[0]]["published_revision"]) for c in compiled]
            await conn.executemany(INSERT_REPORT.format(s=schema), rows)
            self.outboxed = self.outboxed or any(row[-1] for row in rows)
            if replay is None:  # live: how long after its last event each revision compiled
                _observe_latency(records, {c[3] for c in compiled})
                self._trace_compiles(records, compiled)
        if announced:  # read back from the log: nothing left to announce up to there
            await conn.execute(
                f"DELETE FROM {schema}.outbox o USING unnest($1::uuid[], $2::int[]) a(wo, rev)"
                " WHERE o.work_order_id = a.wo AND o.revision <= a.rev",
                list(announced),
                [states[wo]["published_revision"] for wo in announced],
            )
        if replay is not None:
            held = {wo: (states[wo], seq) for wo, seq in last_seq.items()}
            await self._hold(conn, schema, replay, held)

    def _trace_compiles(self, records: Sequence[Recorded], compiled: list[Compiled]) -> None:
        """A span for each compiled revision, in the trace of the event that completed it
        (CloudEvents ``traceparent``); its context waits for the revision's announcement."""
        by_seq = {r.seq: r for r in records}
        for wo, revision, _, seq in compiled:
            envelope = by_seq[seq].envelope
            parent = tracing.parent_of(envelope.traceparent, envelope.tracestate)
            attributes: dict[str, str | int] = {
                "fieldcrew.work_order_id": str(wo),
                "fieldcrew.revision": revision,
            }
            with tracing.span("compile server report", parent=parent, attributes=attributes):
                self.compiled_in[(wo, revision)] = tracing.carrier()
        while len(self.compiled_in) > MAX_TRACED_COMPILES:  # never announced here: forget
            del self.compiled_in[next(iter(self.compiled_in))]

    async def _from_replay(
        self,
        conn: asyncpg.Connection,
        schema: str,
        replay: _Replay,
        ids: list[UUID],
        states: dict[UUID, Progress],
    ) -> list[UUID]:
        """Copies of the progress the replay holds for ``ids``, into ``states``; returns the
        work orders whose rows must be read from the schema."""
        if replay.fresh is None:
            replay.fresh = not await conn.fetchval(f"SELECT EXISTS (SELECT FROM {schema}.progress)")
        missing = []
        for wo in ids:
            got = replay.pending.get(wo) or replay.held.get(wo)
            if got is not None:
                states[wo] = copy_progress(got[0])
            elif not replay.fresh or wo in replay.ever_written:
                missing.append(wo)
        return missing

    async def _hold(
        self, conn: asyncpg.Connection, schema: str, replay: _Replay, changed: dict[UUID, Held]
    ) -> None:
        """Keep ``changed`` for the replay's end; write back the least recently touched work
        orders beyond the cache's size, in this transaction. Only after every statement of the
        batch succeeded: a failed batch leaves the replay as it was."""
        touched = changed.keys() | replay.pending.keys()
        over = len(replay.held.keys() | touched) - REPLAY_CACHE_WORK_ORDERS
        out = []
        if over > 0:
            for wo in replay.held:
                if wo not in touched and wo not in replay.written_back:
                    out.append(wo)
                    if len(out) == over:
                        break
            rows = [row_of(wo, *replay.held[wo], None) for wo in out]
            await conn.executemany(UPSERT.format(s=schema), rows)
        replay.written_back += out
        replay.pending.update(changed)

    def start_replay(self, schema: str) -> None:
        self._replays[schema] = _Replay()

    def transaction_ended(self, schema: str, committed: bool) -> None:
        replay = self._replays.get(schema)
        if replay is None:
            return
        if committed:
            for wo in replay.written_back:
                replay.held.pop(wo, None)
            replay.ever_written.update(replay.written_back)
            for wo, held in replay.pending.items():
                replay.held[wo] = held
                replay.held.move_to_end(wo)
        replay.pending, replay.written_back = {}, []

    async def finish_replay(self, conn: asyncpg.Connection, schema: str) -> None:
        replay = self._replays.get(schema)
        if replay is not None and replay.held:
            rows = [row_of(wo, *held, None) for wo, held in replay.held.items()]
            await conn.executemany(UPSERT.format(s=schema), rows)
            replay.held.clear()

    def drop_replay(self, schema: str) -> None:
        self._replays.pop(schema, None)


def _observe_latency(records: Sequence[Recorded], seqs: set[int]) -> None:
    now = datetime.now(UTC)
    for record in records:
        if record.seq in seqs:
            COMPILE_LATENCY.observe((now - record.envelope.recorded_at).total_seconds())


def check_storable(event: WorkOrderIssued | CrewChanged) -> None:
    """PostgreSQL's text cannot hold NUL: a crew name with one would fail the row's write.
    Refused here, as the event is folded, so that it is dead-lettered on its own, also in a
    replay that writes the row much later (ValueError: a poison event)."""
    if any("\x00" in name for name in event.crew.everyone):
        raise ValueError("a crew member's name contains a NUL character")


Compiled = tuple[UUID, int, str, int]  # work order, revision, report JSON, sequence


def _fold_all(
    states: dict[UUID, Progress], records: Sequence[Recorded]
) -> tuple[dict[UUID, int], list[Compiled], set[UUID]]:
    """Fold the batch in order into ``states``; each work order's last sequence, every
    revision compiled on the way, and the work orders whose announcement was read back."""
    last_seq: dict[UUID, int] = {}
    compiled: list[Compiled] = []
    announced: set[UUID] = set()
    for record in records:
        wo = record.event.work_order_id
        progress = states.get(wo)
        if progress is None:
            progress = states[wo] = empty_progress(str(wo))
        last_seq[wo] = record.seq
        if isinstance(record.event, ServerReportCompiled):
            announced.add(wo)
        # the rule can only change its answer when what it reads changed
        if fold(progress, record.event, record.envelope.recorded_at) and recompile(progress):
            compiled.append((wo, progress["revision"], to_json(progress["compiled"]), record.seq))
    return last_seq, compiled, announced
