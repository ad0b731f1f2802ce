"""Projections: PostgreSQL read models fed by a durable JetStream consumer.

Exactly-once effects on at-least-once delivery: a batch of events is applied and the stream
position it reached is stored **in the same transaction**; messages are acked only after the
commit; a message at or below the stored position is skipped. The stored position is the
truth, not the order of delivery: JetStream hands out new messages while older ones wait for
redelivery (held by a replica that died, nak'd after a failed batch), so a delivery that does
not follow on from the position has the events between read from the log first (ADR 0011).
An event that cannot be decoded or applied is written to ``<schema>.dead_letters`` with its
reason and skipped, so the consumer never stalls. A failure of PostgreSQL itself is not
poison: the batch is nak'd and comes back later.

A projection lives in one schema. ``<meta>.heads`` names the live schema of each projection so
that a rebuild can replay into a fresh schema and switch over in one transaction.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Protocol, runtime_checkable

import asyncpg
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError, NoRespondersError
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError as JsNotFoundError

from fieldcrew_shared.errors import BackendUnavailableError, FieldcrewError, PoisonEventError
from fieldcrew_shared.eventstore import SUBJECTS, EventStore, RawEvent, Recorded
from fieldcrew_shared.metrics import DEAD_LETTERS, EVENTS_APPLIED

log = logging.getLogger(__name__)

# What makes a batch fail without being the events' fault: it is tried again later
DATABASE_FAILURES = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)

# Events a rebuild applies per transaction at most: fewer commits, and each work order's row
# is read and written once for many of its events (measured in bench/, issue 4).
REPLAY_BATCH = 2048
# A replay runs with the cyclic collector paused and collects the young generations once per
# this many events: what a ReplayCache holds survives every batch, and the collector's passes
# over it after each batch cost more than the replay saved by holding it. Young only: a full
# pass over 8,192 held work orders took ~0.9 s, a young one ~40 ms (bench/, issue 4).
REPLAY_COLLECT_EVERY = 131_072

BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS {s}.checkpoint (
    id boolean PRIMARY KEY DEFAULT true CHECK (id), position bigint NOT NULL);
INSERT INTO {s}.checkpoint VALUES (true, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS {s}.dead_letters (
    seq bigint PRIMARY KEY, subject text NOT NULL, reason text NOT NULL,
    body bytea NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now());
"""


class Projection(Protocol):
    """What a service implements to be fed by a :class:`ProjectionRunner`."""

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
    whole only once :meth:`ProjectionRunner.replay` has returned, and a rebuild that fails
    drops its schema. The runner tells the projection how each transaction ended, so that
    what a rolled-back transaction folded never reaches the cache."""

    def start_replay(self, schema: str) -> None: ...

    def transaction_ended(self, schema: str, committed: bool) -> None: ...

    async def finish_replay(self, conn: asyncpg.Connection, schema: str) -> None:
        """Write out everything still held, inside the caller's transaction."""
        ...

    def drop_replay(self, schema: str) -> None: ...


class ProjectionRunner:
    """Feeds one projection from a durable consumer, keeping its position in PostgreSQL."""

    def __init__(
        self,
        store: EventStore,
        pool: asyncpg.Pool,
        projection: Projection,
        *,
        filter_subject: str = "fieldcrew.>",
        batch: int = 256,
        after_commit: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.store, self.pool, self.projection = store, pool, projection
        self.filter_subject = filter_subject
        self.batch = batch
        self.after_commit = after_commit
        self.meta = f"{projection.name}_meta"
        self.schema = projection.name
        self.position = 0
        self._advanced = asyncio.Condition()
        self._cache = projection if isinstance(projection, ReplayCache) else None
        # A replay's events decoded ahead, by sequence: the read-ahead decodes them while the
        # transaction before them waits on PostgreSQL (bench/, issue 4)
        self._decoded: dict[int, Recorded] = {}

    async def setup(self) -> None:
        """Create the heads table and the live schema on first start; read the live schema."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self.meta)
            await conn.execute(
                f"CREATE SCHEMA IF NOT EXISTS {self.meta};"
                f"CREATE TABLE IF NOT EXISTS {self.meta}.heads (live text NOT NULL)"
            )
            live = await conn.fetchval(f"SELECT live FROM {self.meta}.heads")
            if live is None:
                live = self.projection.name
                await conn.execute(f"INSERT INTO {self.meta}.heads VALUES ($1)", live)
            await create_schema(conn, self.projection, live)
        self.schema = live

    def consumer_config(self, position: int = 0) -> api.ConsumerConfig:
        """The durable consumer feeding the live projection. Made again after it was lost
        (deleted by an operator, a NATS incident), it starts after ``position``, the one the
        projection has committed, instead of delivering the whole log again."""
        config = api.ConsumerConfig(
            ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=api.DeliverPolicy.ALL,
            max_ack_pending=self.batch * 4,
            ack_wait=60,
        )
        if position > 0:
            config.deliver_policy = api.DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = position + 1
        return config

    async def lag(self) -> dict[str, int]:
        """How far behind the live runner is: the durable consumer's messages not yet
        delivered (``pending``) and delivered but not yet acknowledged (``ack_pending``), and
        the stream position the projection has committed."""
        try:
            info = await self.store.js.consumer_info(self.store.stream, self.projection.name)
        except JsNotFoundError as exc:
            raise BackendUnavailableError(
                f"durable consumer {self.projection.name} does not exist"
            ) from exc
        except (NatsTimeoutError, NoRespondersError, ConnectionClosedError) as exc:
            raise BackendUnavailableError("JetStream is not answering") from exc
        return {
            "pending": info.num_pending or 0,
            "ack_pending": info.num_ack_pending or 0,
            "position": self.position,
        }

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set. Raises when NATS fails it (a lost consumer, a closed
        connection, ...): meant to run supervised (:mod:`fieldcrew_shared.supervision`), which
        starts it again, the durable consumer made again if it is gone. A failure of
        PostgreSQL only pauses it."""
        sub = await self.store.js.pull_subscribe(
            self.filter_subject,
            durable=self.projection.name,
            stream=self.store.stream,
            config=self.consumer_config(await self._committed()),
        )
        try:
            while not stop.is_set():
                try:
                    await self._step(sub)
                except DATABASE_FAILURES as exc:
                    log.warning("projection paused: PostgreSQL failed", extra={"why": repr(exc)})
                    await asyncio.sleep(1.0)  # back off while the database is away
        finally:
            # a pull subscription left open makes nc.drain() hang; on a closed connection
            # there is nothing left to close
            with suppress(NatsError):
                await sub.unsubscribe()

    async def _committed(self) -> int:
        """The position the live schema has committed."""
        async with self.pool.acquire() as conn:
            schema = await conn.fetchval(f"SELECT live FROM {self.meta}.heads")
            position: int = await conn.fetchval(f"SELECT position FROM {schema}.checkpoint")
        return position

    async def _step(self, sub: JetStreamContext.PullSubscription) -> None:
        try:
            msgs = await sub.fetch(self.batch, timeout=1.0)
        except NatsTimeoutError:  # idle: follow a rebuild's switch-over for the readers
            self.schema = await self.pool.fetchval(f"SELECT live FROM {self.meta}.heads")
            return
        await self._handle(msgs)

    async def _handle(self, msgs: list[Msg]) -> None:
        if not msgs:  # fetch can return an empty list instead of timing out
            return
        delivered = [RawEvent(m.metadata.sequence.stream, m.subject, m.data) for m in msgs]
        last = max(d.seq for d in delivered)
        try:
            while True:  # more than one transaction only when a gap was read from the log
                self.schema, position = await self.process(delivered)
                await self._advance(position)
                if position >= last:
                    break
        except DATABASE_FAILURES as exc:
            log.warning("projection batch failed; will retry", extra={"why": repr(exc)})
            for m in msgs:
                await m.nak(delay=1.0)
            return
        for m in msgs:
            await m.ack()
        if self.after_commit is not None:
            try:
                await self.after_commit(self.schema)
            except FieldcrewError as exc:  # retried after the next batch or at start
                log.warning("after-commit step failed", extra={"why": exc.message})

    async def _advance(self, position: int) -> None:
        async with self._advanced:
            self.position = max(self.position, position)
            self._advanced.notify_all()

    async def wait_for(self, seq: int) -> None:
        """Return once the live runner has committed everything up to ``seq``."""
        async with self._advanced:
            await self._advanced.wait_for(lambda: self.position >= seq)

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
    (bench/, issue 4). It never stays off: whoever turned it off turns it back on, so nested
    or concurrent pauses are safe."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


async def create_schema(conn: asyncpg.Connection, projection: Projection, schema: str) -> None:
    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    await conn.execute(BOOKKEEPING.format(s=schema))
    await conn.execute(projection.ddl(schema))
