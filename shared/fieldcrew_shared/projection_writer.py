"""Writing a projection exactly once: each batch of events is applied and the stream position
it reached stored in the same transaction, a message at or below the stored position skipped,
and an event that cannot be decoded or applied written to ``<schema>.dead_letters`` with its
reason. The position is the truth, not the order of delivery: a batch that does not follow on
from it has the events between read from the log first (ADR 0011). A rebuild replays a range
of the log into a fresh schema the same way, reading ahead while it writes.

:class:`fieldcrew_shared.projection.ProjectionRunner` feeds a writer from a durable consumer.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Protocol, runtime_checkable

import asyncpg

from fieldcrew_shared.errors import FieldcrewError, PoisonEventError
from fieldcrew_shared.eventstore import SUBJECTS, EventStore, RawEvent, Recorded
from fieldcrew_shared.metrics import DEAD_LETTERS, EVENTS_APPLIED

log = logging.getLogger(__name__)

# What makes a batch fail without being the events' fault: it is tried again later
DATABASE_FAILURES = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)

# Events a rebuild applies per transaction at most: fewer commits, and each work order's row
# is read and written once for many of its events (measured in bench/README.md).
REPLAY_BATCH = 2048
# A replay runs with the cyclic collector paused and collects the young generations once per
# this many events: what a ReplayCache holds survives every batch, and the collector's passes
# over it after each batch cost more than the replay saved by holding it. Young only: a full
# pass over 8,192 held work orders took ~0.9 s, a young one ~40 ms (bench/README.md).
REPLAY_COLLECT_EVERY = 131_072


class Projection(Protocol):
    """What a service implements to be fed by a
    :class:`fieldcrew_shared.projection.ProjectionRunner`."""

    name: str

    def ddl(self, schema: str) -> str:
        """SQL creating the projection's tables in ``schema`` (idempotent)."""
        ...

    async def apply(
        self, conn: asyncpg.Connection, schema: str, records: Sequence[Recorded]
    ) -> None:
        """Apply events, in stream order, inside the batch's transaction. Raise ValueError
        (or PoisonEventError) for an event that cannot be applied."""
        ...


@runtime_checkable
class ReplayCache(Protocol):
    """A projection that keeps what it writes in memory while it replays into a fresh schema
    (a rebuild), and writes it out when it must or when the replay ends.

    While a replay runs, the schema's checkpoint may be ahead of what is written: a schema is
    whole only once :meth:`ProjectionWriter.replay` has returned, and a rebuild that fails
    drops its schema. The runner tells the projection how each transaction ended, so that
    what a rolled-back transaction folded never reaches the cache."""

    def start_replay(self, schema: str) -> None: ...

    def transaction_ended(self, schema: str, committed: bool) -> None: ...

    async def finish_replay(self, conn: asyncpg.Connection, schema: str) -> None:
        """Write out everything still held, inside the caller's transaction."""
        ...

    def drop_replay(self, schema: str) -> None: ...


class ProjectionWriter:
    """Writes events into one projection's schemas, each batch with its stream position."""

    def __init__(
        self,
        store: EventStore,
        pool: asyncpg.Pool,
        projection: Projection,
        *,
        filter_subject: str = "fieldcrew.>",
    ) -> None:
        self.store, self.pool, self.projection = store, pool, projection
        self.filter_subject = filter_subject
        self.meta = f"{projection.name}_meta"
        self._cache = projection if isinstance(projection, ReplayCache) else None
        # A replay's events decoded ahead, by sequence: the read-ahead decodes them while the
        # transaction before them waits on PostgreSQL (bench/README.md)
        self._decoded: dict[int, Recorded] = {}

    async def process(
        self, batch: Sequence[RawEvent], schema: str | None = None
    ) -> tuple[str, int]:
        """Apply a batch in one transaction with its position; returns the schema used and
        the position stored. ``schema=None`` means the live schema (read under a share lock).

        Events at or below the stored position are skipped. When the rest does not follow on
        from the position, the events between are read from the log and applied instead
        (``REPLAY_BATCH`` at most; the position returned then may be short of the batch's
        last event, and the caller goes on)."""
        try:
            return await self._process(batch, schema, careful=False)
        except PoisonEventError:  # redo it one event per savepoint, the poison set aside
            return await self._process(batch, schema, careful=True)

    async def _process(
        self, batch: Sequence[RawEvent], schema: str | None, *, careful: bool
    ) -> tuple[str, int]:
        cache = self._cache
        if cache is None or schema is None:  # the live schema is never replaying
            return await self._transaction(batch, schema, careful=careful)
        committed = False
        try:
            result = await self._transaction(batch, schema, careful=careful)
            committed = True
            return result
        finally:
            cache.transaction_ended(schema, committed)

    async def _transaction(
        self, batch: Sequence[RawEvent], schema: str | None, *, careful: bool
    ) -> tuple[str, int]:
        async with self.pool.acquire() as conn, conn.transaction():
            if schema is None:
                schema = await conn.fetchval(f"SELECT live FROM {self.meta}.heads FOR SHARE")
            assert schema is not None
            position = await conn.fetchval(f"SELECT position FROM {schema}.checkpoint FOR UPDATE")
            todo = await self._following(batch, position)
            if not todo:
                return schema, position
            with _collector_paused():
                if careful:
                    for d in todo:
                        await self._apply_or_dead_letter(conn, schema, d)
                else:  # the whole batch at once, no savepoint: a poison event rolls it back
                    await self._apply(conn, schema, todo)
            await conn.execute(f"UPDATE {schema}.checkpoint SET position = $1", todo[-1].seq)
        EVENTS_APPLIED.labels(self.projection.name).inc(len(todo))  # committed
        return schema, todo[-1].seq

    async def _following(self, batch: Sequence[RawEvent], position: int) -> list[RawEvent]:
        """The events right after ``position``, in order and none missing: the batch's own
        when they follow on (the usual case), else read from the log up to its last one."""
        fresh = sorted({d.seq: d for d in batch if d.seq > position}.values(), key=_seq)
        if not fresh:
            return []
        if self.filter_subject == SUBJECTS and fresh[-1].seq - position == len(fresh):
            return fresh  # every sequence from position + 1 on is there
        # A filtered projection cannot tell a gap from other subjects' events: it reads.
        end = fresh[-1].seq
        from_log = [d for d in await self._read_upto(position + 1, end) if d.seq <= end]
        return from_log or fresh  # nothing in the log before them (purged): they go on

    async def replay(self, schema: str, start: int) -> int:
        """Apply every event from ``start`` to the stream's current end into ``schema`` (a
        rebuild), up to ``REPLAY_BATCH`` events a transaction, reading the next events while
        the last are applied. Returns the last sequence applied (``start - 1`` when none)."""
        end = await self.store.last_sequence()
        position = start - 1
        reading = self._read_ahead(start, end) if position < end else None
        cache = self._cache
        if cache is not None:
            cache.start_replay(schema)
        try:
            with _collector_paused():
                collected = position
                while reading is not None:
                    batch = await reading
                    reading = None
                    if not batch:
                        break
                    if batch[-1].seq < end:
                        reading = self._read_ahead(batch[-1].seq + 1, end)
                    await self.process(batch, schema=schema)
                    position = batch[-1].seq
                    if position - collected >= REPLAY_COLLECT_EVERY:
                        gc.collect(1)
                        collected = position
                if cache is not None:
                    async with self.pool.acquire() as conn, conn.transaction():
                        await cache.finish_replay(conn, schema)
        finally:
            if cache is not None:
                cache.drop_replay(schema)
            self._decoded.clear()
            if reading is not None:
                reading.cancel()
                reading.add_done_callback(lambda t: t.cancelled() or t.exception())
        return position

    def _read_ahead(self, start: int, end: int) -> asyncio.Task[list[RawEvent]]:
        # Batched direct gets, not a push consumer: a push consumer outran nats-py's buffers on
        # a 1M-event log (slow-consumer drops, resets), while this reads only what is asked.
        return asyncio.ensure_future(self._read_upto(start, end, decode_ahead=True))

    async def _read_upto(
        self, start: int, end: int, *, decode_ahead: bool = False
    ) -> list[RawEvent]:
        out: list[RawEvent] = []
        while len(out) < REPLAY_BATCH:
            # one request for the lot: the read-ahead only moves on while the transaction
            # before it waits on PostgreSQL, and 8 requests of 256 did not fit in those waits
            want = REPLAY_BATCH - len(out)
            batch = await self.store.read(self.filter_subject, start, want)
            out += batch
            if decode_ahead:
                for raw in batch:
                    # a poison event is decoded again when applied, and dead-lettered then
                    with suppress(PoisonEventError):
                        self._decoded[raw.seq] = raw.decoded()
            if len(batch) < want or batch[-1].seq >= end:
                break
            start = batch[-1].seq + 1
        return out

    async def _apply(self, conn: asyncpg.Connection, schema: str, raws: Sequence[RawEvent]) -> None:
        ahead = self._decoded
        records = [ahead.pop(raw.seq) if raw.seq in ahead else raw.decoded() for raw in raws]
        try:
            await self.projection.apply(conn, schema, records)
        except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError, ValueError) as exc:
            raise PoisonEventError(f"{type(exc).__name__}: {exc}") from exc
        except (*DATABASE_FAILURES, FieldcrewError):
            raise  # the database or the log failed, not the event: the batch is tried again
        except Exception as exc:
            # a bug met by these events (TypeError, KeyError, ...): set them aside, one by
            # one, rather than stall the projection; the traceback says where
            if len(records) == 1:
                log.exception("applying an event failed", extra={"seq": records[0].seq})
            raise PoisonEventError(f"{type(exc).__name__}: {exc}") from exc

    async def _apply_or_dead_letter(
        self, conn: asyncpg.Connection, schema: str, d: RawEvent
    ) -> None:
        try:
            async with conn.transaction():
                await self._apply(conn, schema, [d])
        except PoisonEventError as exc:
            log.error("dead-lettered event", extra={"seq": d.seq, "why": exc.message})
            DEAD_LETTERS.labels(self.projection.name).inc()
            await conn.execute(
                f"INSERT INTO {schema}.dead_letters (seq, subject, reason, body)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (seq) DO NOTHING",
                d.seq,
                d.subject,
                exc.message,
                d.body,
            )


def _seq(event: RawEvent) -> int:
    return event.seq


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch is decoded and folded (or, in a replay,
    between collections of its own): the many short-lived dicts and models are freed by
    reference counting, and the collector's passes over them cost ~15% of a rebuild's CPU
    (bench/README.md). It never stays off: whoever turned it off turns it back on, so nested
    or concurrent pauses are safe."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
